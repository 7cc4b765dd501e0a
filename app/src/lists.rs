//! Lists paged, searched and sorted on the server. The URL holds the view (search, filters, order,
//! page), so a view can be shared and survives a reload; the pieces here read it and change it:
//! sorting and paging are links, the search box and the page size replace the URL in place.
use domain::list::{self, ListQuery, PageInfo, RawListQuery, SortKey};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::components::TH;

/// A list's parameters as found in the URL, unparsed (the server checks them, and says which one
/// is wrong in a hand-edited URL).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlParams {
    pub q: Option<String>,
    pub status: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

impl UrlParams {
    pub fn raw(&self) -> RawListQuery<'_> {
        RawListQuery {
            q: self.q.as_deref(),
            page: self.page.as_deref(),
            per_page: self.per_page.as_deref(),
            sort: self.sort.as_deref(),
            dir: self.dir.as_deref(),
        }
    }

    /// The query the URL asks for, or the default one when the URL is not valid.
    pub fn query<S: SortKey>(&self) -> ListQuery<S> {
        ListQuery::parse(&self.raw()).unwrap_or_default()
    }
}

/// The current URL's list parameters, as a key for the page's resource.
pub fn use_url_params() -> Memo<UrlParams> {
    let map = use_query_map();
    Memo::new(move |_| {
        map.with(|m| UrlParams {
            q: m.get("q"),
            status: m.get("status"),
            sort: m.get("sort"),
            dir: m.get("dir"),
            page: m.get("page"),
            per_page: m.get("per_page"),
        })
    })
}

impl UrlParams {
    /// This view's URL under `path`; absent and empty parameters are left out.
    pub fn href(&self, path: &str) -> String {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        let pairs = [
            ("status", v(&self.status)),
            ("q", v(&self.q)),
            ("sort", v(&self.sort)),
            ("dir", v(&self.dir)),
            ("per_page", v(&self.per_page)),
            ("page", v(&self.page)),
        ];
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        format!("{path}{}", list::url_query(&pairs))
    }
}

/// A list page's path and the parameters of its current URL, to build its links from.
#[derive(Clone, Copy)]
pub struct ListPath {
    pub path: &'static str,
    pub params: Memo<UrlParams>,
}

impl ListPath {
    /// The URL of this view changed by `edit`.
    pub fn href_with(&self, edit: impl FnOnce(&mut UrlParams)) -> String {
        let mut p = self.params.get();
        edit(&mut p);
        p.href(self.path)
    }

    /// Replaces the URL with this view changed by `edit` (typing a search does not fill the
    /// back button).
    pub fn replace(&self, edit: impl FnOnce(&mut UrlParams)) {
        let mut p = self.params.get_untracked();
        edit(&mut p);
        use_navigate()(
            &p.href(self.path),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    }
}

/// The search box of a list: the URL follows what is typed, after a short pause, back on page one;
/// and the box follows the URL when it changes otherwise (a link, back and forward).
#[component]
pub fn SearchBox(list: ListPath, label: &'static str, placeholder: &'static str) -> impl IntoView {
    let in_url = move || list.params.with(|p| p.q.clone().unwrap_or_default());
    let text = RwSignal::new(
        list.params
            .with_untracked(|p| p.q.clone().unwrap_or_default()),
    );
    // Edits typed, and the last one written to the URL: while they differ, typing leads.
    let typed = RwSignal::new(0_u64);
    let written = RwSignal::new(0_u64);
    Effect::new(move |_| {
        let q = in_url();
        if typed.get_untracked() == written.get_untracked()
            && text.with_untracked(|t| t.trim() != q)
        {
            text.set(q);
        }
    });
    let on_input = move |ev| {
        text.set(event_target_value(&ev));
        let n = typed.get_untracked() + 1;
        typed.set(n);
        set_timeout(
            move || {
                if typed.get_untracked() == n {
                    written.set(n);
                    list.replace(|p| {
                        p.q = Some(text.get_untracked().trim().to_owned());
                        p.page = None;
                    });
                }
            },
            std::time::Duration::from_millis(250),
        );
    };
    view! {
        <input
            type="search"
            placeholder=placeholder
            aria-label=label
            maxlength=list::MAX_SEARCH_LEN
            class="w-72 rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300"
            prop:value=move || text.get()
            on:input=on_input
        />
    }
}

/// A choice kept in the URL (a filter, an order): `options` are (value, label), "" being the
/// default; choosing one goes back to page one.
#[component]
pub fn UrlSelect(
    list: ListPath,
    label: &'static str,
    options: &'static [(&'static str, &'static str)],
    get: fn(&UrlParams) -> Option<String>,
    set: fn(&mut UrlParams, Option<String>),
) -> impl IntoView {
    let current = move || list.params.with(|p| get(p).unwrap_or_default());
    let on_change = move |ev| {
        let value = event_target_value(&ev);
        list.replace(|p| {
            set(p, (!value.is_empty()).then_some(value));
            p.page = None;
        });
    };
    view! {
        <select aria-label=label class="rounded-md border border-slate-300 px-2 py-2 text-sm" on:change=on_change>
            {options.iter().map(|(value, text)| view! {
                <option value=*value selected=move || current() == *value>{*text}</option>
            }).collect_view()}
        </select>
    }
}

/// A column header that sorts by `key`: the first click ascending, the next descending.
#[component]
pub fn SortHeader<S: SortKey + Send + Sync + 'static>(
    list: ListPath,
    label: &'static str,
    key: S,
) -> impl IntoView {
    let current = move || list.params.with(UrlParams::query::<S>);
    let state = move || {
        let q = current();
        (q.sort == key).then_some(q.descending)
    };
    let href = move || {
        let descending = state() == Some(false);
        list.href_with(|p| {
            p.sort = Some(key.name().to_owned());
            p.dir = descending.then(|| "desc".to_owned());
            p.page = None;
        })
    };
    let mark = move || match state() {
        None => "",
        Some(false) => " ▲",
        Some(true) => " ▼",
    };
    let sorted = move || match state() {
        None => "none",
        Some(false) => "ascending",
        Some(true) => "descending",
    };
    view! {
        <th class=TH aria-sort=sorted>
            <A href=href attr:class="hover:underline" attr:data-testid=format!("sort-{}", key.name())>
                {label}{mark}
            </A>
        </th>
    }
}

/// Which rows of how many, the previous and next page, and the page size.
#[component]
pub fn Pager(list: ListPath, page: PageInfo) -> impl IntoView {
    let pages = page.pages();
    let info = page.describe();
    let at = move |n: u32| list.href_with(|p| p.page = (n > 1).then(|| n.to_string()));
    let prev = (page.page > 1).then(|| at(page.page - 1));
    let next = (page.page < pages).then(|| at(page.page + 1));
    let link = "rounded-md border border-slate-300 bg-white px-3 py-1 text-sm text-slate-700 hover:bg-slate-50";
    let off = "rounded-md border border-slate-200 px-3 py-1 text-sm text-slate-300";
    let per_page = page.per_page;
    let resize = move |ev| {
        let n = event_target_value(&ev);
        list.replace(|p| {
            p.per_page = (n != list::DEFAULT_PAGE_SIZE.to_string()).then_some(n);
            p.page = None;
        });
    };
    view! {
        <nav class="mt-3 flex items-center justify-between gap-3 text-sm text-slate-600" data-testid="pager">
            <span data-testid="page-info">{info}</span>
            <div class="flex items-center gap-2">
                <label class="flex items-center gap-1">
                    "Rows"
                    <select class="rounded-md border border-slate-300 px-2 py-1" aria-label="Rows per page" on:change=resize>
                        {list::PAGE_SIZES.into_iter().map(|n| view! { <option value=n.to_string() selected={n == per_page}>{n}</option> }).collect_view()}
                    </select>
                </label>
                {match prev {
                    Some(href) => view! { <A href=href attr:class=link attr:data-testid="page-prev">"Previous"</A> }.into_any(),
                    None => view! { <span class=off>"Previous"</span> }.into_any(),
                }}
                {match next {
                    Some(href) => view! { <A href=href attr:class=link attr:data-testid="page-next">"Next"</A> }.into_any(),
                    None => view! { <span class=off>"Next"</span> }.into_any(),
                }}
            </div>
        </nav>
    }
}
