//! Lists that are paged, searched and sorted on the server: which page, what search and what order,
//! parsed from a URL's query (so a view can be shared) and checked once here for the browser and
//! the server alike.
use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::node::Connectivity;

/// The page sizes the lists offer.
pub const PAGE_SIZES: [u32; 4] = [25, 50, 100, 200];
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most rows one page may ask for (scripts page through bigger fleets).
pub const MAX_PAGE_SIZE: u32 = 1_000;
/// The longest search text accepted.
pub const MAX_SEARCH_LEN: usize = 100;

/// A column a list can be sorted by.
pub trait SortKey: Copy + Default + PartialEq + 'static {
    /// Every key with its name in the URL.
    const ALL: &'static [(Self, &'static str)];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("", |(_, n)| n)
    }

    fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == raw)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                ValidationError::new("sort", format!("must be one of {}", names.join(", ")))
            })
    }
}

/// One list request: the search text, the 1-based page, its size and the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery<S> {
    pub search: String,
    pub page: u32,
    pub per_page: u32,
    pub sort: S,
    pub descending: bool,
}

impl<S: SortKey> Default for ListQuery<S> {
    fn default() -> Self {
        Self {
            search: String::new(),
            page: 1,
            per_page: DEFAULT_PAGE_SIZE,
            sort: S::default(),
            descending: false,
        }
    }
}

/// The raw URL parameters of a list (`q`, `page`, `per_page`, `sort`, `dir`); absent or empty
/// means the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawListQuery<'a> {
    pub q: Option<&'a str>,
    pub page: Option<&'a str>,
    pub per_page: Option<&'a str>,
    pub sort: Option<&'a str>,
    pub dir: Option<&'a str>,
}

fn given(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

fn number(field: &str, raw: Option<&str>, default: u32, max: u32) -> Result<u32, ValidationError> {
    let Some(raw) = given(raw) else {
        return Ok(default);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ if max == u32::MAX => Err(ValidationError::new(field, "must be a whole number from 1")),
        _ => Err(ValidationError::new(
            field,
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

impl<S: SortKey> ListQuery<S> {
    /// The query a list's server function was called with: its optional arguments, named as in
    /// the list's URL.
    pub fn from_args(
        q: Option<&str>,
        sort: Option<&str>,
        dir: Option<&str>,
        page: Option<&str>,
        per_page: Option<&str>,
    ) -> Result<Self, ValidationError> {
        Self::parse(&RawListQuery {
            q,
            page,
            per_page,
            sort,
            dir,
        })
    }

    pub fn parse(raw: &RawListQuery<'_>) -> Result<Self, ValidationError> {
        let search = raw.q.map(str::trim).unwrap_or_default();
        if search.chars().count() > MAX_SEARCH_LEN {
            return Err(ValidationError::new(
                "q",
                format!("the search may have at most {MAX_SEARCH_LEN} characters"),
            ));
        }
        let descending = match given(raw.dir) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(ValidationError::new("dir", "must be asc or desc")),
        };
        Ok(Self {
            search: search.to_owned(),
            page: number("page", raw.page, 1, u32::MAX)?,
            per_page: number("per_page", raw.per_page, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
            sort: given(raw.sort).map_or(Ok(S::default()), S::parse)?,
            descending,
        })
    }

    /// The lowercased search text (matching is case-insensitive).
    pub fn needle(&self) -> String {
        self.search.to_lowercase()
    }

    /// How many rows come before this page's, once `matched` is known (a page past the end is
    /// the last one), and that page.
    pub fn offset(&self, matched: u64) -> (u64, u32) {
        let page = self.page.min(pages(matched, self.per_page));
        (u64::from(page - 1) * u64::from(self.per_page), page)
    }

    /// The rows of this page out of `rows` (already filtered and sorted), and the page actually
    /// shown: a page past the end shows the last one.
    pub fn slice<T>(&self, rows: Vec<T>) -> (Vec<T>, u32) {
        let pages = pages(rows.len() as u64, self.per_page);
        let page = self.page.min(pages);
        let start = (page as usize - 1) * self.per_page as usize;
        let rows = rows
            .into_iter()
            .skip(start)
            .take(self.per_page as usize)
            .collect();
        (rows, page)
    }
}

/// How many pages `total` rows fill (at least one, empty).
pub fn pages(total: u64, per_page: u32) -> u32 {
    let per = u64::from(per_page.max(1));
    u32::try_from(total.div_ceil(per).max(1)).unwrap_or(u32::MAX)
}

/// A URL query (`?a=1&b=x%20y`) of the pairs with a value, or "" when none has one.
pub fn url_query(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if body.is_empty() {
        String::new()
    } else {
        format!("?{}", body.join("&"))
    }
}

/// Percent-encodes a URL query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One page of a list: its rows, which page it is and how many rows match in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// Rows matching the search and filters, on every page.
    pub matched: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u32 {
        pages(self.matched, self.per_page)
    }

    /// Where this page is, without its rows (what a pager shows).
    pub fn info(&self) -> PageInfo {
        PageInfo {
            page: self.page,
            per_page: self.per_page,
            matched: self.matched,
            shown: self.rows.len(),
        }
    }
}

/// Where a page is in its list: its number and size, the rows matching and the rows it shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageInfo {
    pub page: u32,
    pub per_page: u32,
    pub matched: u64,
    pub shown: usize,
}

impl PageInfo {
    pub fn pages(&self) -> u32 {
        pages(self.matched, self.per_page)
    }

    /// "51–100 of 120 · page 2 of 3", or that nothing matches.
    pub fn describe(&self) -> String {
        if self.matched == 0 {
            return "Nothing matches".to_owned();
        }
        let first = u64::from(self.page.max(1) - 1) * u64::from(self.per_page) + 1;
        let last = (first + self.shown as u64).saturating_sub(1);
        format!(
            "{first}–{last} of {} · page {} of {}",
            self.matched,
            self.page,
            self.pages()
        )
    }
}

/// The node list's columns to sort by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeSort {
    #[default]
    Name,
    Status,
    LastSeen,
}

impl SortKey for NodeSort {
    const ALL: &'static [(Self, &'static str)] = &[
        (NodeSort::Name, "name"),
        (NodeSort::Status, "status"),
        (NodeSort::LastSeen, "last_seen"),
    ];
}

/// Which nodes by status (`status` in the URL).
pub fn parse_status(raw: Option<&str>) -> Result<Option<Connectivity>, ValidationError> {
    match given(raw) {
        None | Some("all") => Ok(None),
        Some("online") => Ok(Some(Connectivity::Online)),
        Some("silent") => Ok(Some(Connectivity::Silent)),
        Some("offline") => Ok(Some(Connectivity::Offline)),
        Some(_) => Err(ValidationError::new(
            "status",
            "must be all, online, silent or offline",
        )),
    }
}

/// A status filter's name in the URL ("" for all).
pub fn status_name(status: Option<Connectivity>) -> &'static str {
    match status {
        None => "",
        Some(Connectivity::Online) => "online",
        Some(Connectivity::Silent) => "silent",
        Some(Connectivity::Offline) => "offline",
    }
}

/// A page of the node list with the fleet's counts (on every page, whatever the search).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodePage {
    pub page: Page<crate::node::NodeView>,
    pub total: u64,
    pub online: u64,
}

/// The cluster list's columns to sort by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterSort {
    #[default]
    Name,
    Created,
}

impl SortKey for ClusterSort {
    const ALL: &'static [(Self, &'static str)] = &[
        (ClusterSort::Name, "name"),
        (ClusterSort::Created, "created"),
    ];
}

/// A page of the cluster list with how many clusters there are in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterPage {
    pub page: Page<crate::cluster::ClusterSummary>,
    pub total: u64,
}

/// The audit log's orders: newest first unless asked otherwise (`dir=desc` turns either round).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditSort {
    #[default]
    Newest,
    Oldest,
}

impl SortKey for AuditSort {
    const ALL: &'static [(Self, &'static str)] =
        &[(AuditSort::Newest, "newest"), (AuditSort::Oldest, "oldest")];
}

impl ListQuery<AuditSort> {
    pub fn newest_first(&self) -> bool {
        (self.sort == AuditSort::Newest) != self.descending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: RawListQuery<'_>) -> Result<ListQuery<NodeSort>, ValidationError> {
        ListQuery::parse(&raw)
    }

    #[test]
    fn absent_parameters_are_the_defaults() {
        let q = parse(RawListQuery::default()).expect("defaults");
        assert_eq!(q, ListQuery::default());
        let q = parse(RawListQuery {
            q: Some("  "),
            page: Some(""),
            ..Default::default()
        })
        .expect("blank is absent");
        assert_eq!(q, ListQuery::default());
    }

    #[test]
    fn a_query_is_read_from_its_url() {
        let q = parse(RawListQuery {
            q: Some(" Edge 1&2 "),
            page: Some("3"),
            per_page: Some("25"),
            sort: Some("last_seen"),
            dir: Some("desc"),
        })
        .expect("valid");
        assert_eq!(q.search, "Edge 1&2");
        assert_eq!(q.needle(), "edge 1&2");
        assert_eq!(
            (q.page, q.per_page, q.sort, q.descending),
            (3, 25, NodeSort::LastSeen, true)
        );
    }

    #[test]
    fn a_server_functions_arguments_land_in_their_fields() {
        let q = ListQuery::<NodeSort>::from_args(
            Some("edge"),
            Some("status"),
            Some("desc"),
            Some("2"),
            Some("25"),
        )
        .expect("valid");
        assert_eq!(
            (q.search.as_str(), q.sort, q.descending, q.page, q.per_page),
            ("edge", NodeSort::Status, true, 2, 25)
        );
    }

    #[test]
    fn a_url_query_leaves_out_empty_values_and_encodes_the_rest() {
        assert_eq!(url_query(&[("status", ""), ("q", "")]), "");
        assert_eq!(
            url_query(&[("status", "online"), ("q", "Edge 1&2/é"), ("page", "3")]),
            "?status=online&q=Edge%201%262%2F%C3%A9&page=3"
        );
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let field = |raw| parse(raw).expect_err("refused").field;
        assert_eq!(
            field(RawListQuery {
                page: Some("0"),
                ..Default::default()
            }),
            "page"
        );
        assert_eq!(
            field(RawListQuery {
                page: Some("two"),
                ..Default::default()
            }),
            "page"
        );
        assert_eq!(
            field(RawListQuery {
                per_page: Some("1001"),
                ..Default::default()
            }),
            "per_page"
        );
        assert_eq!(
            field(RawListQuery {
                sort: Some("engine"),
                ..Default::default()
            }),
            "sort"
        );
        assert_eq!(
            field(RawListQuery {
                dir: Some("up"),
                ..Default::default()
            }),
            "dir"
        );
        let long = "x".repeat(MAX_SEARCH_LEN + 1);
        assert_eq!(
            field(RawListQuery {
                q: Some(&long),
                ..Default::default()
            }),
            "q"
        );
        assert_eq!(
            parse_status(Some("asleep")).expect_err("refused").field,
            "status"
        );
        assert_eq!(parse_status(Some("online")), Ok(Some(Connectivity::Online)));
        assert_eq!(
            status_name(parse_status(Some("offline")).expect("valid")),
            "offline"
        );
    }

    #[test]
    fn the_audit_log_is_newest_first_and_pages_by_offset() {
        let q: ListQuery<AuditSort> = ListQuery::parse(&RawListQuery::default()).expect("valid");
        assert!(q.newest_first());
        let q: ListQuery<AuditSort> = ListQuery::parse(&RawListQuery {
            sort: Some("oldest"),
            page: Some("4"),
            per_page: Some("25"),
            ..Default::default()
        })
        .expect("valid");
        assert!(!q.newest_first());
        assert_eq!(q.offset(1_000), (75, 4));
        assert_eq!(q.offset(60), (50, 3));
        assert_eq!(q.offset(0), (0, 1));
    }

    #[test]
    fn a_pager_says_which_rows_of_how_many() {
        let page = Page {
            rows: vec![1, 2],
            page: 2,
            per_page: 50,
            matched: 52,
        };
        assert_eq!(page.info().describe(), "51–52 of 52 · page 2 of 2");
        let none = Page::<u8> {
            rows: vec![],
            page: 1,
            per_page: 50,
            matched: 0,
        };
        assert_eq!(none.info().describe(), "Nothing matches");
    }

    #[test]
    fn a_page_past_the_end_shows_the_last_one() {
        let mut q: ListQuery<NodeSort> = ListQuery {
            per_page: 2,
            page: 2,
            ..Default::default()
        };
        assert_eq!(q.slice(vec![1, 2, 3, 4, 5]), (vec![3, 4], 2));
        q.page = 9;
        assert_eq!(q.slice(vec![1, 2, 3, 4, 5]), (vec![5], 3));
        assert_eq!(q.slice(Vec::<u8>::new()), (vec![], 1));
        assert_eq!(pages(0, 50), 1);
        assert_eq!(pages(101, 50), 3);
    }
}
