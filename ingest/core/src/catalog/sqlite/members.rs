//! The roster on SQLite.

use super::{in_scope, parse, scope_param, Sqlite};
use crate::catalog::{Members, Membership, Result, RosterRow, Scope};
use crate::schema::MemberId;
use rusqlite::{params, OptionalExtension};

const MEMBERSHIP: &str = "ms.member, ms.org, ms.role, ms.joined, ms.left_on, ms.exempt";

type Row = (String, String, String, String, Option<String>, bool);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn membership((member, org, role, joined, left, exempt): Row) -> Result<Membership> {
    Ok(Membership { member: parse("member id", &member)?, org: parse("org id", &org)?, role, joined, left, exempt })
}

impl Members for Sqlite<'_> {
    fn insert_member(&self, id: MemberId, sealed: &str, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO members (id, sealed, created_at) VALUES (?1, ?2, ?3)",
            params![id.to_string(), sealed, now],
        )?;
        Ok(())
    }

    fn member_exists(&self, id: MemberId) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM members WHERE id = ?1)";
        Ok(self.conn.query_row(sql, [id.to_string()], |r| r.get(0))?)
    }

    fn insert_membership(&self, m: &Membership, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO memberships (member, org, role, joined, left_on, exempt, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![m.member.to_string(), m.org.to_string(), m.role, m.joined, m.left, m.exempt, now],
        )?;
        Ok(())
    }

    fn open_membership(&self, member: MemberId) -> Result<Option<(Membership, String)>> {
        let sql = format!(
            "SELECT {MEMBERSHIP}, o.path FROM memberships ms JOIN orgs o ON o.id = ms.org
             WHERE ms.member = ?1 AND ms.left_on IS NULL ORDER BY ms.joined DESC LIMIT 1"
        );
        let found =
            self.conn.query_row(&sql, [member.to_string()], |r| Ok((row(r)?, r.get::<_, String>(6)?))).optional()?;
        found.map(|(r, path)| Ok((membership(r)?, path))).transpose()
    }

    fn end_membership(&self, member: MemberId, left: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE memberships SET left_on = ?2 WHERE member = ?1 AND left_on IS NULL",
            params![member.to_string(), left],
        )?;
        Ok(())
    }

    fn roster(&self, path: &str, history: bool, scope: &Scope) -> Result<Vec<RosterRow>> {
        let sql = format!(
            "SELECT {MEMBERSHIP}, m.sealed FROM memberships ms
             JOIN members m ON m.id = ms.member JOIN orgs o ON o.id = ms.org
             WHERE {} AND (o.path = ?2 OR substr(o.path, 1, length(?2) + 1) = ?2 || '/')
               AND (?3 OR ms.left_on IS NULL)
             ORDER BY o.path, ms.joined, ms.member",
            in_scope("o.path", 1)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![scope_param(scope), path, history], |r| Ok((row(r)?, r.get(6)?)))?;
        rows.map(|r| {
            let (m, sealed) = r?;
            Ok(RosterRow { membership: membership(m)?, sealed })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Members;
    use crate::schema::OrgId;
    use archive::catalog::Catalog;

    /// The scope is in the roster's query: a caller bound to cell A reads no row
    /// of cell B, even asking for the base above both; a transfer keeps the
    /// past membership for `history` only.
    #[test]
    fn the_roster_query_holds_the_scope_and_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        cat.migrate("ingest", super::super::MIGRATIONS).unwrap();
        let (a, b) = (OrgId::new(), OrgId::new());
        cat.with(|c| {
            c.execute_batch(&format!(
                "INSERT INTO orgs (id, kind, name, path, created_at) VALUES ('base', 'base', 'x', '/base', 't');
                 INSERT INTO orgs (id, parent, kind, name, path, created_at) VALUES ('{a}', 'base', 'cell', 'A', '/base/{a}', 't');
                 INSERT INTO orgs (id, parent, kind, name, path, created_at) VALUES ('{b}', 'base', 'cell', 'B', '/base/{b}', 't');"
            ))
            .unwrap();
            let repo = Sqlite::new(c);
            let (one, two) = (MemberId::new(), MemberId::new());
            for (m, org) in [(one, a), (two, b)] {
                repo.insert_member(m, "{}", "t").unwrap();
                let ms = Membership {
                    member: m,
                    org,
                    role: "member".into(),
                    joined: "2020-01-01".into(),
                    left: None,
                    exempt: false,
                };
                repo.insert_membership(&ms, "t").unwrap();
            }
            let ids = |path: &str, history: bool, scope: &Scope| -> Vec<MemberId> {
                repo.roster(path, history, scope).unwrap().into_iter().map(|r| r.membership.member).collect()
            };
            let only_a = Scope::Subtrees(vec![format!("/base/{a}")]);
            assert_eq!(ids("/base", false, &only_a), [one]);
            assert!(ids(&format!("/base/{b}"), true, &only_a).is_empty());
            assert_eq!(ids("/base", false, &Scope::All).len(), 2);
            assert!(ids("/base", false, &Scope::Subtrees(vec![])).is_empty(), "bound to nothing reads nothing");
            // `one` moves to B.
            let (open, path) = repo.open_membership(one).unwrap().unwrap();
            assert_eq!((open.org, path), (a, format!("/base/{a}")));
            repo.end_membership(one, "2025-01-01").unwrap();
            let moved = Membership { org: b, joined: "2025-01-01".into(), ..open };
            repo.insert_membership(&moved, "t").unwrap();
            assert!(ids(&format!("/base/{a}"), false, &Scope::All).is_empty());
            let past = repo.roster(&format!("/base/{a}"), true, &Scope::All).unwrap();
            assert_eq!(past.len(), 1);
            assert_eq!(past[0].membership.left.as_deref(), Some("2025-01-01"));
            assert_eq!(ids(&format!("/base/{b}"), false, &Scope::All).len(), 2);
            assert_eq!(repo.open_membership(one).unwrap().unwrap().0.org, b);
            assert!(repo.member_exists(one).unwrap() && !repo.member_exists(MemberId::new()).unwrap());
        });
    }
}
