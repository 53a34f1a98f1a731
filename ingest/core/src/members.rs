//! The roster: the members of each cell, over time.
//!
//! A member is one person (not a user: members do not sign in); a membership
//! is their stay in one cell, with their role there, the dates they joined and
//! left, and whether they are exempt from regular activity (*miễn sinh hoạt*).
//! A transfer ends one membership and starts another, so the history stays.
//!
//! A member's name and number identify a person: they are sealed under the note
//! key, bound to `member/<id>`, in the catalog as in the ledger, and opened only
//! in memory for a caller in scope. Ledger entries and logs name members by id.
//!
//! Admins (and the host at the command line) change the roster; admins,
//! inspectors in scope and a cell's secretary read it.

use crate::app::App;
use crate::catalog::{self, Membership, RosterRow, Scope};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{MemberId, OrgId};
use archive::keys::{Keys, WrappedDek};
use archive::ledger::NewEntry;
use archive::vault::Vault;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A member's role in their cell.
pub const MEMBER_ROLES: [&str; 4] = ["secretary", "deputy", "committee", "member"];

/// The most lines one CSV import takes: a cell, not a province.
pub const MAX_IMPORT: usize = 2000;

/// A member to add, as the API, the CLI and the admin page give it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub name: String,
    /// The Party member number (số thẻ đảng viên), if known.
    #[serde(default)]
    pub number: Option<String>,
    /// `secretary`, `deputy`, `committee` or `member` (the default).
    #[serde(default)]
    pub role: Option<String>,
    /// Local date, `YYYY-MM-DD`.
    pub joined: String,
    #[serde(default)]
    pub exempt: bool,
}

/// A membership and its member, opened for the reader.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub number: Option<String>,
    pub org: OrgId,
    pub role: String,
    pub joined: String,
    pub left: Option<String>,
    pub exempt: bool,
}

/// A member leaving their cell on `date`; with `to`, a transfer to that cell
/// (in the role `role`, by default the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leave {
    pub date: String,
    #[serde(default)]
    pub to: Option<OrgId>,
    #[serde(default)]
    pub role: Option<String>,
}

/// A member's checked facts, before they have an id.
#[derive(Debug, Clone, PartialEq)]
struct Checked {
    name: String,
    number: Option<String>,
    role: String,
    joined: String,
    exempt: bool,
}

fn check_role(role: Option<&str>) -> Result<String, String> {
    match role.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok("member".into()),
        Some(r) if MEMBER_ROLES.contains(&r) => Ok(r.to_string()),
        Some(r) => Err(format!("role {r:?} is not one of secretary, deputy, committee, member")),
    }
}

/// A local date, `YYYY-MM-DD`, as stored.
fn check_date(d: &str, what: &str) -> Result<String, String> {
    crate::local_time::date(d.trim())
        .map(|date| date.to_string())
        .map_err(|_| format!("{what} {:?} is not a date (YYYY-MM-DD)", d.trim()))
}

fn check(m: &NewMember) -> Result<Checked, String> {
    let name = m.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err("a name must be 1 to 200 characters, without control characters".into());
    }
    let number = m.number.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if number.is_some_and(|n| n.chars().count() > 40 || n.chars().any(char::is_control)) {
        return Err("a member number must be at most 40 characters, without control characters".into());
    }
    Ok(Checked {
        name: name.to_string(),
        number: number.map(String::from),
        role: check_role(m.role.as_deref())?,
        joined: check_date(&m.joined, "joined")?,
        exempt: m.exempt,
    })
}

fn subject(id: MemberId) -> String {
    format!("member/{id}")
}

/// A member's name and number sealed under the note key for `member/<id>`, as
/// the JSON the catalog keeps.
fn seal(keys: &Keys, id: MemberId, c: &Checked) -> Result<(WrappedDek, String), DomainError> {
    let facts = json!({ "name": c.name, "number": c.number });
    let note = keys.seal_note(&subject(id), facts.to_string().as_bytes()).map_err(DomainError::internal)?;
    let text = serde_json::to_string(&note).map_err(DomainError::internal)?;
    Ok((note, text))
}

/// Opens a member's sealed facts (name, number), in memory only.
fn open(keys: &Keys, row: RosterRow) -> Result<Member, DomainError> {
    let m = row.membership;
    let note: WrappedDek = serde_json::from_str(&row.sealed).map_err(DomainError::internal)?;
    let plain = keys.open_note(&subject(m.member), &note).map_err(DomainError::internal)?;
    let facts: Value = serde_json::from_slice(&plain).map_err(DomainError::internal)?;
    let text = |k: &str| facts.get(k).and_then(Value::as_str).map(String::from);
    Ok(Member {
        id: m.member,
        name: text("name").unwrap_or_default(),
        number: text("number"),
        org: m.org,
        role: m.role,
        joined: m.joined,
        left: m.left,
        exempt: m.exempt,
    })
}

/// Refuses an org that is not a cell: members belong to cells.
fn require_cell(repo: &dyn catalog::Repo, org: OrgId) -> Result<(), DomainError> {
    match repo.org_kind_path(org)? {
        Some((kind, _)) if kind == "cell" => Ok(()),
        Some((kind, _)) => Err(DomainError::invalid(format!("members belong to cells; org {org} is a {kind}"))),
        None => Err(DomainError::not_found(format!("org {org} not found"))),
    }
}

/// Adds a member to cell `org` (admins).
pub async fn add(app: &App, who: &Principal, org: OrgId, new: NewMember) -> Result<Member, DomainError> {
    who.require(&[Role::Admin])?;
    add_as(&app.vault, &who.actor(), org, new).await
}

/// Adds a member as `actor` (an admin, or the host at the command line).
pub async fn add_as(vault: &Vault, actor: &str, org: OrgId, new: NewMember) -> Result<Member, DomainError> {
    let c = check(&new).map_err(DomainError::Invalid)?;
    let id = MemberId::new();
    let (note, sealed) = seal(&vault.keys, id, &c)?;
    let mut data = json!({ "org": org, "role": c.role, "joined": c.joined, "exempt": c.exempt });
    data["sealed"] = serde_json::to_value(&note).map_err(DomainError::internal)?;
    let entry = NewEntry { actor: actor.to_string(), action: "member.added", subject: subject(id), data };
    let now = vault.now();
    let ms =
        Membership { member: id, org, role: c.role.clone(), joined: c.joined.clone(), left: None, exempt: c.exempt };
    catalog::commit(vault, entry, move |repo| {
        require_cell(repo, org)?;
        repo.insert_member(id, &sealed, &now)?;
        Ok::<_, DomainError>(repo.insert_membership(&ms, &now)?)
    })
    .await?;
    let Checked { name, number, role, joined, exempt } = c;
    Ok(Member { id, name, number, org, role, joined, left: None, exempt })
}

/// The roster of the subtree at `org` (a cell: its members) that the caller
/// may read: admins everywhere, inspectors and secretaries in their scope.
/// Current members only, unless `history` (every membership, past ones too).
pub async fn list(app: &App, who: &Principal, org: OrgId, history: bool) -> Result<Vec<Member>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Secretary])?;
    let path = crate::orgs::path_of(app, org).await?;
    // Above the scope (a base over a secretary's cell) is narrowed by the query.
    who.require_scope_or_above(&path)?;
    list_in(&app.vault, path, history, Scope::of(who)).await
}

/// The roster of the subtree at `path` within `scope`, opened.
pub async fn list_in(vault: &Vault, path: String, history: bool, scope: Scope) -> Result<Vec<Member>, DomainError> {
    let rows =
        catalog::read(&vault.catalog, move |repo| repo.roster(&path, history, &scope).map_err(DomainError::from))
            .await?;
    rows.into_iter().map(|r| open(&vault.keys, r)).collect()
}

/// The roster of cell `org` (current members, or with `history` every
/// membership) for the host, which reads without the service stopped: the
/// catalog and the keys, no vault.
pub fn list_at_host(
    repo: &dyn catalog::Repo,
    keys: &Keys,
    org: OrgId,
    history: bool,
) -> Result<Vec<Member>, DomainError> {
    let path = repo.org_path(org)?.ok_or_else(|| DomainError::not_found(format!("org {org} not found")))?;
    repo.roster(&path, history, &Scope::All)?.into_iter().map(|r| open(keys, r)).collect()
}

/// A member leaves their cell, or (with `to`) moves to another (admins).
pub async fn leave(app: &App, who: &Principal, id: MemberId, leave: Leave) -> Result<(), DomainError> {
    who.require(&[Role::Admin])?;
    leave_as(&app.vault, &who.actor(), id, leave).await
}

/// [`leave`] as `actor` (an admin, or the host).
pub async fn leave_as(vault: &Vault, actor: &str, id: MemberId, leave: Leave) -> Result<(), DomainError> {
    let date = check_date(&leave.date, "date").map_err(DomainError::Invalid)?;
    let role = match &leave.role {
        Some(r) if leave.to.is_none() => {
            return Err(DomainError::invalid(format!("role {r:?} is for a transfer: name the cell in `to`")))
        }
        r => r.as_deref().map(|r| check_role(Some(r))).transpose().map_err(DomainError::Invalid)?,
    };
    let to = leave.to;
    let mut data = json!({ "left": date, "to": to });
    if let Some(r) = &role {
        data["role"] = json!(r);
    }
    let entry = NewEntry { actor: actor.to_string(), action: "member.left", subject: subject(id), data };
    let now = vault.now();
    catalog::commit(vault, entry, move |repo| {
        if !repo.member_exists(id)? {
            return Err(DomainError::not_found(format!("member {id} not found")));
        }
        let Some((open, _)) = repo.open_membership(id)? else {
            return Err(DomainError::conflict(format!("member {id} belongs to no cell now")));
        };
        if date < open.joined {
            return Err(DomainError::invalid(format!("member {id} joined on {}, after {date}", open.joined)));
        }
        repo.end_membership(id, &date)?;
        if let Some(to) = to {
            require_cell(repo, to)?;
            if to == open.org {
                return Err(DomainError::invalid("a transfer goes to another cell"));
            }
            let role = role.unwrap_or(open.role);
            let next = Membership { member: id, org: to, role, joined: date.clone(), left: None, exempt: open.exempt };
            repo.insert_membership(&next, &now)?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// One field of a CSV line: `"..."` with `""` for a quote, or plain text.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field does not end".into()),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("text after a quoted field".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            _ => return Ok(fields),
        }
    }
}

fn csv_exempt(s: &str) -> Result<bool, String> {
    match s.trim().to_lowercase().as_str() {
        "" | "0" | "false" | "no" | "không" => Ok(false),
        "1" | "true" | "yes" | "có" | "x" => Ok(true),
        other => Err(format!("exempt {other:?} is not yes or no (1/0, true/false, có/không)")),
    }
}

/// The members of a CSV roster, `name,number,role,joined,exempt` a line (a
/// header line with these names is skipped; blank lines too). The first broken
/// line refuses the whole file, named by its number (1 is the first line).
pub fn parse_csv(text: &str) -> Result<Vec<NewMember>, DomainError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| DomainError::invalid(format!("line {n}: {why}"));
        let fields = csv_fields(line).map_err(bad)?;
        if n == 1 && fields.first().is_some_and(|f| f.trim().eq_ignore_ascii_case("name")) {
            continue;
        }
        if fields.len() != 5 {
            return Err(bad(format!("{} fields; want name,number,role,joined,exempt", fields.len())));
        }
        let m = NewMember {
            name: fields[0].clone(),
            number: Some(fields[1].clone()),
            role: Some(fields[2].clone()),
            joined: fields[3].clone(),
            exempt: csv_exempt(&fields[4]).map_err(bad)?,
        };
        check(&m).map_err(bad)?;
        out.push(m);
        if out.len() > MAX_IMPORT {
            return Err(DomainError::invalid(format!("at most {MAX_IMPORT} members an import")));
        }
    }
    if out.is_empty() {
        return Err(DomainError::invalid("the CSV holds no member"));
    }
    Ok(out)
}

/// Adds every member of a CSV roster to cell `org` (admins): all or nothing.
pub async fn import(app: &App, who: &Principal, org: OrgId, csv: &str) -> Result<Vec<Member>, DomainError> {
    who.require(&[Role::Admin])?;
    import_as(&app.vault, &who.actor(), org, csv).await
}

/// [`import`] as `actor`: one ledger entry for the whole file, names sealed in
/// it; one commit, so a failure leaves nothing written.
pub async fn import_as(vault: &Vault, actor: &str, org: OrgId, csv: &str) -> Result<Vec<Member>, DomainError> {
    let mut checked = Vec::new();
    for m in parse_csv(csv)? {
        checked.push((MemberId::new(), check(&m).map_err(DomainError::Invalid)?));
    }
    let mut sealed_rows = Vec::new();
    for (id, c) in &checked {
        sealed_rows.push((*id, seal(&vault.keys, *id, c)?.1));
    }
    let listed: Vec<Value> = checked
        .iter()
        .map(|(id, c)| json!({ "id": id, "role": c.role, "joined": c.joined, "exempt": c.exempt }))
        .collect();
    let facts: Vec<Value> =
        checked.iter().map(|(id, c)| json!({ "id": id, "name": c.name, "number": c.number })).collect();
    let subject = format!("org/{org}");
    let mut data = json!({ "members": listed });
    crate::facts::seal_into(&vault.keys, &subject, &mut data, json!({ "members": facts }))?;
    let entry = NewEntry { actor: actor.to_string(), action: "members.imported", subject, data };
    let now = vault.now();
    let rows: Vec<(String, Membership)> = checked
        .iter()
        .zip(sealed_rows)
        .map(|((id, c), (_, sealed))| {
            let ms = Membership {
                member: *id,
                org,
                role: c.role.clone(),
                joined: c.joined.clone(),
                left: None,
                exempt: c.exempt,
            };
            (sealed, ms)
        })
        .collect();
    catalog::commit(vault, entry, move |repo| {
        require_cell(repo, org)?;
        for (sealed, ms) in &rows {
            repo.insert_member(ms.member, sealed, &now)?;
            repo.insert_membership(ms, &now)?;
        }
        Ok::<_, DomainError>(())
    })
    .await?;
    Ok(checked
        .into_iter()
        .map(|(id, c)| Member {
            id,
            name: c.name,
            number: c.number,
            org,
            role: c.role,
            joined: c.joined,
            left: None,
            exempt: c.exempt,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<Vec<NewMember>, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_csv_roster_parses_with_its_header_quotes_and_a_bom() {
        let text = "\u{feff}name,number,role,joined,exempt\r\n\
                    Nguyễn Văn An,123,secretary,2020-01-15,0\r\n\
                    \"Trần, Thị Bình\",,,2021-03-01,có\r\n\
                    \r\n\
                    \"Lê \"\"Út\"\"\",9,deputy,2022-12-31,yes\n";
        let got = parse_csv(text).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].name, "Trần, Thị Bình");
        assert!(got[1].exempt);
        assert_eq!(got[2].name, "Lê \"Út\"");
        let c = check(&got[1]).unwrap();
        assert_eq!((c.role.as_str(), c.number), ("member", None), "empty role and number: member, none");
    }

    #[test]
    fn a_broken_line_refuses_the_file_and_names_the_line() {
        let ok = "An,1,member,2020-01-01,0\n";
        assert!(err(parse_csv(&format!("{ok}Bình,2,member,2020-13-01,0\n"))).starts_with("line 2:"));
        assert!(err(parse_csv(&format!("{ok}{ok}Chi,3,boss,2020-01-01,0\n"))).starts_with("line 3:"));
        assert!(err(parse_csv(&format!("{ok}\nDũng,4,member\n"))).starts_with("line 3:"), "blank lines count");
        assert!(err(parse_csv(&format!("{ok}\"Em,5,member,2020-01-01,0\n"))).starts_with("line 2:"));
        assert!(err(parse_csv(&format!(",5,member,2020-01-01,0\n{ok}"))).starts_with("line 1:"), "no name");
        assert!(err(parse_csv(&format!("{ok}Gia,6,member,2020-01-01,maybe\n"))).starts_with("line 2:"));
        assert!(err(parse_csv("name,number,role,joined,exempt\n")).contains("no member"));
        let many = ok.repeat(MAX_IMPORT + 1);
        assert!(err(parse_csv(&many)).contains("at most"));
    }

    #[test]
    fn roles_and_dates_are_checked() {
        let m = |role: &str, joined: &str| NewMember {
            name: "An".into(),
            number: None,
            role: Some(role.into()),
            joined: joined.into(),
            exempt: false,
        };
        for r in MEMBER_ROLES {
            assert!(check(&m(r, "2020-01-01")).is_ok(), "{r}");
        }
        assert!(check(&m("admin", "2020-01-01")).is_err());
        assert!(check(&m("member", "01/02/2020")).is_err());
        assert_eq!(check(&m("member", " 2020-02-29 ")).unwrap().joined, "2020-02-29");
        let long = NewMember { name: "x".repeat(201), ..m("member", "2020-01-01") };
        assert!(check(&long).is_err());
        let control = NewMember { name: "A\u{7}n".into(), ..m("member", "2020-01-01") };
        assert!(check(&control).is_err());
    }

    #[test]
    fn sealed_facts_open_only_for_their_member() {
        let dir = tempfile::tempdir().unwrap();
        let keys = archive::keys::KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let (a, b) = (MemberId::new(), MemberId::new());
        let c = check(&NewMember {
            name: "Phạm Thị Hoa".into(),
            number: Some("0123".into()),
            role: None,
            joined: "2020-01-01".into(),
            exempt: true,
        })
        .unwrap();
        let (_, sealed) = seal(&keys, a, &c).unwrap();
        assert!(!sealed.contains("Hoa") && !sealed.contains("0123"), "the catalog's text names nobody");
        let row = |member| RosterRow {
            membership: Membership {
                member,
                org: OrgId::new(),
                role: "member".into(),
                joined: "2020-01-01".into(),
                left: None,
                exempt: true,
            },
            sealed: sealed.clone(),
        };
        let opened = open(&keys, row(a)).unwrap();
        assert_eq!((opened.name.as_str(), opened.number.as_deref()), ("Phạm Thị Hoa", Some("0123")));
        assert!(open(&keys, row(b)).is_err(), "a note moved to another member does not open");
    }
}
