package audit

// Entry is one audit record as it appears in a file: the JSON keys, in
// the order they are written. The auditor fills it from an Event; verify
// and report read it back. seq, prev_mac and mac are added by the writer
// (seq first, the MACs last), so the three are empty in the body an event
// encodes to.
type Entry struct {
	Seq      uint64 `json:"seq,omitempty"`
	Time     string `json:"time"`
	Event    string `json:"event"`
	Instance string `json:"instance"`

	Session     string `json:"session,omitempty"`
	Client      string `json:"client,omitempty"`
	TLS         string `json:"tls,omitempty"`
	CertSubject string `json:"cert_subject,omitempty"`
	User        string `json:"user,omitempty"`
	Role        string `json:"role,omitempty"`
	Database    string `json:"database,omitempty"`

	Protocol     string     `json:"protocol,omitempty"`
	Kind         string     `json:"kind,omitempty"`
	Fingerprint  string     `json:"fingerprint,omitempty"`
	SQL          string     `json:"sql,omitempty"`
	SQLTruncated bool       `json:"sql_truncated,omitempty"`
	Tables       []string   `json:"tables,omitempty"`
	Read         []string   `json:"read,omitempty"`
	Written      []string   `json:"written,omitempty"`
	Decision     string     `json:"decision,omitempty"`
	Rule         string     `json:"rule,omitempty"`
	Rows         *int64     `json:"rows,omitempty"`
	Subjects     []Subjects `json:"subjects,omitempty"`
	DurationUS   *int64     `json:"duration_us,omitempty"`
	SQLState     string     `json:"sqlstate,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Statements   *int64     `json:"statements,omitempty"`
	Granted      *bool      `json:"granted,omitempty"`

	// key events
	Action     string `json:"action,omitempty"`
	KeyID      string `json:"key_id,omitempty"`
	KeyVersion uint32 `json:"key_version,omitempty"`
	Subject    string `json:"subject,omitempty"`
	Outcome    string `json:"outcome,omitempty"`
	Error      string `json:"error,omitempty"`

	// policy reloads
	PolicyFile    string `json:"policy_file,omitempty"`
	PolicyVersion string `json:"policy_version,omitempty"`
	Accepted      *bool  `json:"accepted,omitempty"`
	Problems      int    `json:"problems,omitempty"`

	// alerts
	Alert     string `json:"alert,omitempty"`
	Count     int64  `json:"count,omitempty"`
	Threshold int64  `json:"threshold,omitempty"`
	WindowS   int64  `json:"window_s,omitempty"`

	// audit_start, audit_recovered
	TornTailBytes int64  `json:"torn_tail_bytes,omitempty"`
	Rejected      uint64 `json:"rejected,omitempty"`

	PrevMAC string `json:"prev_mac,omitempty"`
	MAC     string `json:"mac,omitempty"`
}

// Subjects is the subject ids of one table in one record.
type Subjects struct {
	Table  string   `json:"table"`
	Column string   `json:"column"`
	IDs    []string `json:"ids,omitempty"`
	// Omitted counts result values whose id is not listed because the
	// list was full (repeats of an unlisted id are counted each time).
	Omitted int64 `json:"omitted,omitempty"`
	// NotInResult says the statement touched the table but its result did
	// not carry the subject column, so the subjects are unknown.
	NotInResult bool `json:"not_in_result,omitempty"`
}

// Event names, the "event" key of a record.
const (
	EventStatement       = "statement"
	EventRefusal         = "refusal"
	EventConnectionOpen  = "connection_open"
	EventConnectionClose = "connection_close"
	EventAuthFailure     = "auth_failure"
	EventBreakGlass      = "break_glass"
	EventKey             = "key"
	EventPolicyReload    = "policy_reload"
	EventAlert           = "alert"
	EventAuditStart      = "audit_start"
	EventAuditStop       = "audit_stop"
	EventAuditRecovered  = "audit_recovered"
)

// Alert kinds, the "alert" key of an alert record and the kind label of
// phiguard_audit_alerts_total.
const (
	AlertPHIRows    = "phi_rows"
	AlertRefusals   = "refusals"
	AlertBreakGlass = "break_glass"
)
