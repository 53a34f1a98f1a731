//! The UI's words, Vietnamese first. `?lang=en` switches to English and is
//! remembered in a cookie; everything else (names, titles, transcripts) is shown
//! as stored.

use axum::http::request::Parts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

pub const LANG_COOKIE: &str = "niem_lang";

impl Lang {
    /// From `?lang=`, else the cookie, else Vietnamese.
    pub fn of(parts: &Parts) -> Lang {
        let query = parts.uri.query().unwrap_or("");
        let asked = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()
            .and_then(|q| q.into_iter().find(|(k, _)| k == "lang").map(|(_, v)| v));
        let chosen = asked.or_else(|| crate::http::cookie(&parts.headers, LANG_COOKIE).map(str::to_string));
        match chosen.as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Vi,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Lang::Vi => "Tiếng Việt",
            Lang::En => "English",
        }
    }
    pub fn t(self, key: &'static str) -> &'static str {
        match WORDS.iter().find(|(k, _, _)| *k == key) {
            Some((_, vi, en)) => match self {
                Lang::Vi => vi,
                Lang::En => en,
            },
            None => key,
        }
    }
}

/// (key, Vietnamese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("link.title", "Tài liệu cuộc họp", "Meeting documents"),
    ("link.intro", "Tài liệu gửi trước cho đảng viên. Mỗi lần tải đều được ghi sổ.", "Documents sent ahead to members. Every download is ledgered."),
    ("link.refused", "Không mở được liên kết", "This link cannot be opened"),
    ("docs.title", "Tài liệu", "Documents"),
    ("docs.none", "Chưa có tài liệu.", "No documents yet."),
    ("docs.stored", "Lưu lúc", "Stored"),
    ("docs.advance", "Gửi trước cuộc họp", "Sent before the meeting"),
    ("docs.days", "ngày", "days"),
    ("docs.late", "Chưa đủ thời hạn gửi trước", "Not sent far enough ahead"),
    ("docs.confidential", "Mật", "Confidential"),
    ("docs.upload", "Tải tài liệu lên", "Upload a document"),
    ("docs.file", "Tệp (PDF, DOCX, ODT, PNG, JPEG)", "File (PDF, DOCX, ODT, PNG, JPEG)"),
    ("docs.doc_title", "Tiêu đề", "Title"),
    ("docs.kind", "Loại", "Kind"),
    ("docs.kind.agenda", "Chương trình", "Agenda"),
    ("docs.kind.resolution", "Dự thảo nghị quyết", "Draft resolution"),
    ("docs.kind.study", "Tài liệu học tập", "Study material"),
    ("docs.kind.other", "Khác", "Other"),
    ("docs.send", "Tải lên", "Upload"),
    ("docs.needs_js", "Tải lên cần JavaScript; hoặc dùng API.", "Uploading needs JavaScript, or use the API."),
    ("docs.link", "Liên kết cho đảng viên", "Members' link"),
    ("docs.link_note", "Ai có liên kết này đều tải được tài liệu không Mật, không cần đăng nhập, đến", "Anyone holding this link can download the non-confidential documents, without signing in, until"),
    ("docs.revoke", "Thu hồi mọi liên kết", "Revoke every link"),
    ("nav.search", "Tìm kiếm", "Search"),
    ("nav.live", "Trực tiếp", "Live"),
    ("nav.ledger", "Sổ cái", "Ledger"),
    ("nav.logout", "Đăng xuất", "Sign out"),
    ("nav.reports", "Báo cáo", "Reports"),
    ("nav.admin", "Quản trị", "Admin"),
    ("admin.users", "Người dùng", "Users"),
    ("admin.endpoints", "Điểm cầu", "Bridge points"),
    ("admin.retention", "Lưu trữ và phong tỏa", "Retention and holds"),
    ("admin.alerts", "Cảnh báo", "Alerts"),
    ("admin.role", "Vai trò", "Role"),
    ("admin.scopes", "Phạm vi (cán bộ kiểm tra, điểm cầu)", "Scope (inspectors, recorders)"),
    ("admin.active", "đang hoạt động", "active"),
    ("admin.disabled", "đã khóa", "disabled"),
    ("admin.enable", "Mở khóa", "Enable"),
    ("admin.disable", "Khóa", "Disable"),
    ("admin.add", "Thêm", "Add"),
    ("admin.add_user", "Thêm người dùng", "Add a user"),
    ("admin.add_endpoint", "Thêm điểm cầu", "Add a bridge point"),
    ("admin.key_once", "khóa phát (stream key) chỉ hiện một lần — hãy sao chép ngay.", "its stream key is shown once only — copy it now."),
    ("admin.revoked", "đã thu hồi", "revoked"),
    ("admin.revoke", "Thu hồi", "Revoke"),
    ("admin.every_org", "Mọi tổ chức", "Every organisation"),
    ("admin.class", "Loại lưu trữ", "Class"),
    ("admin.class_media", "Bản ghi và bản chép lời", "Recordings and transcripts"),
    ("admin.class_record", "Hồ sơ cuộc họp (mặc định lưu vĩnh viễn)", "Meeting record (kept permanently by default)"),
    ("admin.keep_days", "Lưu (ngày)", "Keep (days)"),
    ("admin.awaiting", "chờ quản trị viên thứ hai phê duyệt", "awaiting a second admin"),
    ("admin.approve", "Phê duyệt", "Approve"),
    ("admin.one_admin", "Chỉ có một quản trị viên: chưa thể áp dụng nguyên tắc hai người (four-eyes). Hãy thêm quản trị viên thứ hai; từ đó mọi thay đổi về quyền quản trị và mọi việc rút ngắn thời hạn lưu đều cần người thứ hai phê duyệt.", "Only one admin: four-eyes is not yet possible. Add a second admin; from then on every change of who is an admin, and every shortening of what recordings keep, needs a second admin's approval."),
    ("admin.requests", "Yêu cầu chờ quản trị viên thứ hai phê duyệt", "Requests awaiting a second admin"),
    ("admin.until", "hạn", "until"),
    ("admin.recordings_kept", "bản ghi giữ nguyên thời hạn cũ đến khi được phê duyệt", "recordings keep their expiry until approved"),
    ("admin.host_actions", "Thay đổi trên máy chủ (ngoài đăng nhập)", "Changes made at the host (outside sign-in)"),
    ("admin.host_note", "Các lệnh niem chạy trên máy chủ bỏ qua đăng nhập: chúng được ghi vào sổ cái với tác nhân host, không bao giờ được tính là phê duyệt của quản trị viên thứ hai.", "niem commands run on the host bypass sign-in: they are ledgered with actor host and never count as a second admin's approval."),
    ("admin.set_policy", "Đặt chính sách", "Set policy"),
    ("admin.holds", "Phong tỏa (legal hold)", "Legal holds"),
    ("admin.case", "Hồ sơ vụ việc", "Case"),
    ("admin.reason", "Lý do", "Reason"),
    ("admin.released", "đã gỡ", "released"),
    ("admin.release", "Gỡ phong tỏa", "Release"),
    ("admin.place_hold", "Phong tỏa", "Place hold"),
    ("admin.no_alerts", "Không có cảnh báo trong 7 ngày qua.", "No alerts in the last 7 days."),
    ("admin.delivered", "đã gửi webhook", "webhook delivered"),
    ("admin.month", "Tháng", "Month"),
    ("report.expected", "Theo lịch", "Expected"),
    ("report.held", "Đã họp", "Held"),
    ("report.recorded", "Có bản ghi", "Recorded"),
    ("report.sealed", "Đã niêm phong", "Sealed"),
    ("report.transcribed", "Có bản chép lời", "Transcribed"),
    ("report.missing", "Vắng", "Missing"),
    ("report.rate", "Tỷ lệ họp đúng lịch", "Held on schedule"),
    ("report.record", "Hồ sơ cuộc họp", "Meeting record"),
    ("report.attendance", "Tỷ lệ dự họp", "Attendance"),
    ("report.below_target", "dưới chỉ tiêu", "below target"),
    ("report.target", "Chỉ tiêu", "Target"),
    ("report.unapproved", "Vắng không được duyệt", "Unapproved absences"),
    ("report.chair_problems", "Chủ trì không đúng", "Chair problems"),
    ("report.documents_in_advance", "Tài liệu gửi trước", "Documents in advance"),
    ("report.minutes", "Có biên bản", "Minutes filed"),
    ("report.minutes_days", "ngày (trung vị)", "days (median)"),
    ("report.committee_before", "Chi ủy họp trước", "Committee met first"),
    ("report.score", "Điểm đánh giá", "Evaluation score"),
    ("role.admin", "quản trị", "admin"),
    ("role.inspector", "cán bộ kiểm tra", "inspector"),
    ("role.auditor", "kiểm toán", "auditor"),
    ("role.recorder", "điểm cầu", "recorder"),
    ("role.secretary", "bí thư chi bộ", "cell secretary"),
    ("nav.roster", "Đảng viên", "Members"),
    ("roster.title", "Danh sách đảng viên", "Party members"),
    ("roster.cell", "Chi bộ", "Cell"),
    ("roster.name", "Họ và tên", "Full name"),
    ("roster.number", "Số thẻ đảng viên", "Member number"),
    ("roster.role", "Chức vụ trong chi bộ", "Role in the cell"),
    ("roster.joined", "Ngày vào chi bộ", "Joined"),
    ("roster.left", "Ngày rời", "Left"),
    ("roster.exempt", "Miễn sinh hoạt", "Exempt from regular activity"),
    ("roster.history", "Cả những người đã chuyển đi", "Include past members"),
    ("roster.show", "Xem", "Show"),
    ("roster.none", "Chưa có đảng viên nào trong danh sách.", "No members on this roster yet."),
    ("roster.pick", "Chọn một chi bộ để xem danh sách.", "Pick a cell to see its roster."),
    ("roster.add", "Thêm đảng viên", "Add a member"),
    ("roster.import_note", "Nhập cả chi bộ từ tệp CSV: niem member import hoặc POST /api/v1/orgs/{org}/members/import (họ tên, số thẻ, chức vụ, ngày vào, miễn sinh hoạt).", "Import a whole cell from CSV: niem member import, or POST /api/v1/orgs/{org}/members/import (name, number, role, joined, exempt)."),
    ("member.secretary", "Bí thư", "Secretary"),
    ("member.deputy", "Phó bí thư", "Deputy secretary"),
    ("member.committee", "Chi ủy viên", "Committee member"),
    ("member.member", "Đảng viên", "Member"),
    ("login.title", "Đăng nhập", "Sign in"),
    ("login.name", "Tên đăng nhập", "User name"),
    ("login.password", "Mật khẩu", "Password"),
    ("login.submit", "Đăng nhập", "Sign in"),
    ("login.failed", "Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."),
    ("login.limited", "Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau ít phút.", "Too many failed sign-ins. Try again in a few minutes."),
    ("login.expired", "Phiên làm việc đã hết hạn, vui lòng tải lại trang.", "The form expired; reload the page."),
    ("search.title", "Tìm kiếm nội dung cuộc họp", "Search what was said"),
    ("search.placeholder", "Ví dụ: kết nạp đảng viên, \"chuyển đổi số\"", "e.g. party members, \"digital transformation\""),
    ("search.submit", "Tìm", "Search"),
    ("search.org", "Tổ chức", "Organisation"),
    ("search.any_org", "Tất cả trong phạm vi", "All in my scope"),
    ("search.kind", "Loại cuộc họp", "Meeting kind"),
    ("search.any_kind", "Mọi loại", "Any kind"),
    ("search.from", "Từ ngày", "From"),
    ("search.to", "Đến ngày", "To"),
    ("search.none", "Không tìm thấy nội dung phù hợp.", "Nothing matched."),
    ("search.found", "Tìm thấy", "Found"),
    ("search.more_than", "hơn", "more than"),
    ("search.meetings", "cuộc họp", "meetings"),
    ("search.sort", "Sắp xếp", "Order"),
    ("sort.relevance", "Phù hợp nhất", "Best match"),
    ("sort.newest", "Mới nhất", "Newest first"),
    ("sort.oldest", "Cũ nhất", "Oldest first"),
    ("search.next", "Trang sau", "Next page"),
    ("search.first", "Trang đầu", "First page"),
    ("search.export", "Xuất CSV toàn bộ kết quả", "Export every result as CSV"),
    ("nav.meetings", "Cuộc họp", "Meetings"),
    ("browse.title", "Danh sách cuộc họp", "Meetings"),
    ("browse.recording", "Có bản ghi", "Has a recording"),
    ("browse.transcript", "Có bản chép lời", "Has a transcript"),
    ("browse.minutes", "Có biên bản", "Has minutes"),
    ("browse.show", "Lọc", "Filter"),
    ("browse.date", "Ngày", "Date"),
    ("browse.meeting", "Cuộc họp", "Meeting"),
    ("browse.none", "Không có cuộc họp nào phù hợp.", "No meeting matches."),
    ("browse.yes", "Có", "Yes"),
    ("browse.no", "Không", "No"),
    ("browse.shredded", "Đã tiêu hủy", "Shredded"),
    ("search.catching_up", "Chỉ mục đang cập nhật", "Index catching up"),
    ("search.catching_up_note", "kết quả có thể chưa đầy đủ.", "results may be incomplete."),
    ("search.hint", "Gõ có dấu hoặc không dấu; đặt cụm từ trong ngoặc kép để tìm chính xác. Mỗi lần tìm kiếm đều được ghi vào sổ cái.", "Type with or without diacritics; quote a phrase to match it exactly. Every search is recorded in the ledger."),
    ("kind.regular", "Sinh hoạt thường kỳ", "Regular"),
    ("kind.thematic", "Sinh hoạt chuyên đề", "Thematic"),
    ("kind.conference", "Hội nghị", "Conference"),
    ("kind.committee", "Họp chi ủy", "Cell committee"),
    ("meeting.transcript", "Bản chép lời tự động", "Machine transcript"),
    ("meeting.machine", "Văn bản do máy tạo (Whisper), chưa được người kiểm tra. Mô hình:", "Machine-generated text (Whisper), not checked by a person. Model:"),
    ("meeting.no_transcript", "Chưa có bản chép lời:", "No transcript yet:"),
    (
        "transcript.not_sealed",
        "bản ghi chưa được niêm phong; bản chép lời được tạo sau khi niêm phong.",
        "the recording is not sealed yet; the transcript is made after the seal.",
    ),
    ("transcript.making", "đang tạo, đã xong", "being made, done"),
    (
        "transcript.failed",
        "không tạo được bản chép lời. Hãy báo quản trị viên.",
        "the transcript could not be made. Tell an administrator.",
    ),
    ("transcript.waiting", "đang chờ đến lượt xử lý.", "waiting its turn."),
    ("transcript.loading", "Mô hình nhận dạng giọng nói đang được nạp.", "The speech model is loading."),
    (
        "transcript.no_model",
        "Máy chủ chưa có mô hình nhận dạng giọng nói; hãy báo quản trị viên.",
        "The server has no speech model loaded; tell an administrator.",
    ),
    ("transcript.detail", "Chi tiết kỹ thuật (quản trị viên)", "Technical detail (administrators)"),
    ("meeting.no_recording", "Cuộc họp này chưa có bản ghi.", "This meeting has no recording yet."),
    ("meeting.stream", "Điểm cầu", "Bridge point"),
    ("meeting.seek", "Phát từ", "Play from"),
    ("badge.intact", "Toàn vẹn", "Intact"),
    ("badge.broken", "KHÔNG toàn vẹn", "NOT intact"),
    ("badge.checked", "đối chiếu với điểm kiểm tra đã ký lúc", "checked against the signed checkpoint at"),
    ("badge.verified_at", "kiểm tra lúc", "verified at"),
    ("badge.pending", "Chưa có điểm kiểm tra đã ký bao phủ bản ghi này.", "No signed checkpoint covers this recording yet."),
    (
        "badge.never",
        "Chưa kiểm tra: việc kiểm tra chạy sau khi niêm phong, theo lịch, hoặc khi được yêu cầu.",
        "Not verified yet: a check runs after sealing, on schedule, or on request.",
    ),
    ("badge.by_seal", "sau khi niêm phong", "after sealing"),
    ("badge.by_request", "theo yêu cầu", "on request"),
    ("badge.by_schedule", "kiểm tra định kỳ", "scheduled check"),
    ("badge.entries", "mục sổ cái", "ledger entries"),
    ("badge.store", "Kiểm tra định kỳ toàn bộ kho lưu trữ", "Scheduled check of the whole store"),
    ("badge.store_never", "chưa chạy lần nào", "not run yet"),
    (
        "badge.rolling",
        "Kiểm tra cuốn chiếu: lần gần nhất đã tải và băm",
        "Rolling check: the last run fetched and hashed",
    ),
    ("badge.of_objects", "đối tượng", "objects"),
    ("badge.every_object", "mọi đối tượng đã được kiểm tra từ", "every object checked since"),
    ("badge.cycle", "chu kỳ", "cycle"),
    ("badge.days", "ngày", "days"),
    ("badge.witnessed", "Đã được nhân chứng độc lập ký xác nhận", "Cosigned by an independent witness"),
    (
        "badge.not_witnessed",
        "Chưa được nhân chứng ký xác nhận: chưa điểm kiểm tra nào được nhân chứng ký bao phủ bản ghi này.",
        "Not yet witnessed: no checkpoint a witness cosigned covers this recording yet.",
    ),
    ("badge.unavailable", "Chưa kiểm tra được (kho lưu trữ không phản hồi).", "Not checked (the store did not answer)."),
    ("live.title", "Các luồng đang phát", "Live streams"),
    ("live.none", "Không có điểm cầu nào đang phát.", "No bridge point is streaming."),
    ("live.endpoint", "Điểm cầu", "Bridge point"),
    ("live.state", "Trạng thái", "State"),
    ("live.since", "Bắt đầu", "Since"),
    ("live.bitrate", "Tốc độ", "Bitrate"),
    ("live.stored", "Đã lưu", "Stored"),
    ("live.refresh", "Trang tự làm mới mỗi 5 giây.", "This page refreshes every 5 seconds."),
    ("live.missed", "Cuộc họp theo lịch chưa có bản ghi (24 giờ qua)", "Scheduled meetings with no recording (last 24 h)"),
    ("live.backlog", "Hàng đợi chưa lên kho", "Spool backlog"),
    ("ledger.title", "Sổ cái kiểm toán", "Audit ledger"),
    ("ledger.action", "Hành động", "Action"),
    ("ledger.filter", "Lọc", "Filter"),
    ("ledger.checkpoints", "Điểm kiểm tra đã ký mới nhất", "Newest signed checkpoint"),
    (
        "ledger.checkpoints_hint",
        "Mọi điểm kiểm tra đều được đối chiếu trong lần kiểm tra định kỳ và bằng niem-audit.",
        "Every checkpoint is checked by the scheduled verification and by niem-audit.",
    ),
    (
        "ledger.no_checkpoint",
        "Chưa có điểm kiểm tra nào được ký.",
        "No checkpoint has been signed yet.",
    ),
    ("ledger.entries", "Bản ghi sổ cái", "Entries"),
    ("ledger.older", "Cũ hơn", "Older"),
    ("ledger.unseal", "Mở truy vấn (được ghi sổ)", "Open the query (ledgered)"),
    ("ledger.time", "Thời điểm", "Time"),
    ("ledger.actor", "Người thực hiện", "Actor"),
    ("ledger.subject", "Đối tượng", "Subject"),
    ("ledger.covers", "bao phủ", "covers"),
    ("ledger.signature_ok", "chữ ký hợp lệ", "signature valid"),
    ("ledger.signature_bad", "CHỮ KÝ KHÔNG HỢP LỆ", "SIGNATURE INVALID"),
    ("error.title", "Không thực hiện được", "Could not do that"),
    ("error.back", "Quay lại tìm kiếm", "Back to search"),
    ("error.role", "Vai trò của bạn không được xem trang này.", "Your role may not see this page."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_keys_are_unique() {
        let mut keys: Vec<&str> = WORDS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate keys");
        assert!(WORDS.iter().all(|(_, vi, en)| !vi.is_empty() && !en.is_empty()));
        assert_eq!(Lang::Vi.t("nav.search"), "Tìm kiếm");
        assert_eq!(Lang::En.t("nav.search"), "Search");
    }
}
