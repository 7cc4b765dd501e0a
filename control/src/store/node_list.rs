//! The node list's queries: search, count and one page by name, the keys the list sorts by
//! status, and the rows of one page by id.
use super::Store;
use super::nodes::{NodeRow, node_columns};
use crate::ControlError;

/// A node as the list filters and sorts it by status, without its facts.
#[derive(Debug, sqlx::FromRow)]
pub struct NodeKey {
    pub id: String,
    pub last_seen_at: Option<i64>,
}

/// A `LIKE` pattern that finds `needle` anywhere, its own `%`, `_` and `\` taken literally.
pub(super) fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Every node whose search text holds `needle` (lowercase), by name, without its facts: what
    /// the node list filters and sorts by status before it reads the rows of one page.
    pub async fn node_keys(&self, needle: &str) -> Result<Vec<NodeKey>, ControlError> {
        Ok(sqlx::query_as::<_, NodeKey>(
            "SELECT id, last_seen_at FROM nodes WHERE search LIKE $1 ESCAPE '\\' \
             ORDER BY hostname, id",
        )
        .bind(like_pattern(needle))
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many nodes hold `needle` (lowercase) in their search text ("" counts them all).
    pub async fn count_nodes(&self, needle: &str) -> Result<u64, ControlError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE search LIKE $1 ESCAPE '\\'")
                .bind(like_pattern(needle))
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// `limit` nodes holding `needle` from `offset` on, by name (or its reverse): one page of the
    /// node list when neither status nor presence decides the order.
    pub async fn node_page(
        &self,
        needle: &str,
        descending: bool,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<NodeRow>, ControlError> {
        macro_rules! by_name {
            ($order:literal) => {
                concat!(
                    "SELECT ",
                    node_columns!(),
                    " FROM nodes WHERE search LIKE $1 ESCAPE '\\' ORDER BY hostname ",
                    $order,
                    ", id ",
                    $order,
                    " LIMIT $2 OFFSET $3"
                )
            };
        }
        let sql = if descending {
            by_name!("DESC")
        } else {
            by_name!("ASC")
        };
        Ok(sqlx::query_as::<_, NodeRow>(sql)
            .bind(like_pattern(needle))
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?)
    }

    /// The nodes with these ids (in no particular order); for one page of the list.
    pub async fn nodes_by_ids(&self, ids: &[String]) -> Result<Vec<NodeRow>, ControlError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {} FROM nodes WHERE id IN ({})",
            node_columns!(),
            super::placeholders(1, ids.len())
        );
        // Audited: the only text added to the statement is its own `$n` placeholders.
        let mut query = sqlx::query_as::<_, NodeRow>(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_search_pattern_takes_the_operators_wildcards_literally() {
        assert_eq!(super::like_pattern(""), "%%");
        assert_eq!(super::like_pattern(r"a_b%c\d"), r"%a\_b\%c\\d%");
    }
}
