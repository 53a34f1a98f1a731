//! The service's ids. Its catalog tables (beside the archive's in the same
//! SQLite file, so that a change and its ledger entry share one transaction)
//! are the SQLite engine's: `catalog::sqlite::MIGRATIONS`.

use archive::define_id;

define_id!(
    /// A node of the Party organisation tree: bloc → base committee → cell.
    OrgId,
    "org"
);
define_id!(
    /// One session of one org.
    MeetingId,
    "meeting"
);
define_id!(
    /// A person or a recorder endpoint that holds tokens.
    UserId,
    "user"
);
define_id!(
    /// An API token (the secret part is never stored).
    TokenId,
    "token"
);
define_id!(
    /// A resumable (tus) upload in progress.
    UploadId,
    "upload"
);

define_id!(
    /// A retention policy.
    PolicyId,
    "policy"
);
define_id!(
    /// A legal hold.
    HoldId,
    "hold"
);

define_id!(
    /// A bridge point (điểm cầu) that pushes live streams with its own stream key.
    EndpointId,
    "endpoint"
);

define_id!(
    /// A person on a cell's roster (not a user: members do not sign in).
    MemberId,
    "member"
);

define_id!(
    /// A member's request to be excused from one meeting.
    AbsenceId,
    "absence"
);
