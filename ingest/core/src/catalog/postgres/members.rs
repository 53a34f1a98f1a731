//! The roster on PostgreSQL.

use super::{in_scope, parse, scope_param, Postgres};
use crate::catalog::{Members, Membership, Result, RosterRow, Scope};
use crate::schema::MemberId;
use postgres::GenericClient;

const MEMBERSHIP: &str = "ms.member, ms.org, ms.role, ms.joined, ms.left_on, ms.exempt";

type Row = (String, String, String, String, Option<String>, bool);

fn row(r: &postgres::Row) -> Row {
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
}

fn membership((member, org, role, joined, left, exempt): Row) -> Result<Membership> {
    Ok(Membership { member: parse("member id", &member)?, org: parse("org id", &org)?, role, joined, left, exempt })
}

impl<C: GenericClient> Members for Postgres<'_, C> {
    fn insert_member(&self, id: MemberId, sealed: &str, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO members (id, sealed, created_at) VALUES ($1, $2, $3)",
            &[&id.to_string(), &sealed, &now],
        )?;
        Ok(())
    }

    fn member_exists(&self, id: MemberId) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM members WHERE id = $1)";
        Ok(self.c.borrow_mut().query_one(sql, &[&id.to_string()])?.get(0))
    }

    fn insert_membership(&self, m: &Membership, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO memberships (member, org, role, joined, left_on, exempt, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&m.member.to_string(), &m.org.to_string(), &m.role, &m.joined, &m.left, &m.exempt, &now],
        )?;
        Ok(())
    }

    fn open_membership(&self, member: MemberId) -> Result<Option<(Membership, String)>> {
        let sql = format!(
            "SELECT {MEMBERSHIP}, o.path FROM memberships ms JOIN orgs o ON o.id = ms.org
             WHERE ms.member = $1 AND ms.left_on IS NULL ORDER BY ms.joined DESC LIMIT 1"
        );
        let found = self.c.borrow_mut().query_opt(&sql, &[&member.to_string()])?;
        found.map(|r| Ok((membership(row(&r))?, r.get::<_, String>(6)))).transpose()
    }

    fn end_membership(&self, member: MemberId, left: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "UPDATE memberships SET left_on = $2 WHERE member = $1 AND left_on IS NULL",
            &[&member.to_string(), &left],
        )?;
        Ok(())
    }

    fn roster(&self, path: &str, history: bool, scope: &Scope) -> Result<Vec<RosterRow>> {
        let sql = format!(
            "SELECT {MEMBERSHIP}, m.sealed FROM memberships ms
             JOIN members m ON m.id = ms.member JOIN orgs o ON o.id = ms.org
             WHERE {} AND (o.path = $2 OR substr(o.path, 1, length($2) + 1) = $2 || '/')
               AND ($3 OR ms.left_on IS NULL)
             ORDER BY o.path, ms.joined, ms.member",
            in_scope("o.path", 1)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&scope_param(scope), &path, &history])?;
        rows.iter().map(|r| Ok(RosterRow { membership: membership(row(r))?, sealed: r.get(6) })).collect()
    }
}
