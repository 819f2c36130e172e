package meta

// View is a named query usable in FROM; it is inlined where it is named.
type View struct {
	Workspace   string `json:"workspace"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	SQL         string `json:"sql"`
	CreatedAt   string `json:"created_at"`
	CreatedBy   string `json:"created_by"`
	ModifiedAt  string `json:"modified_at,omitempty"`
}

// Alias names one or more collections ("workspace.collection"); queries
// resolve it when they run, so repointing it needs no query change.
type Alias struct {
	Workspace   string   `json:"workspace"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Collections []string `json:"collections"`
	CreatedAt   string   `json:"created_at"`
	CreatedBy   string   `json:"created_by"`
	ModifiedAt  string   `json:"modified_at,omitempty"`
}

// APIKey is a key as stored: only its SHA-256 and the last characters the
// API shows, never the key itself.
type APIKey struct {
	Name       string `json:"name"`
	Owner      string `json:"owner"` // the user the key belongs to
	Hash       string `json:"hash"`  // hex SHA-256 of the key
	Hint       string `json:"hint"`  // the key's last 6 characters, as Rockset shows them
	Role       string `json:"role,omitempty"`
	State      string `json:"state"` // ACTIVE or SUSPENDED
	CreatedAt  string `json:"created_at"`
	CreatedBy  string `json:"created_by"`
	LastAccess string `json:"last_access,omitempty"`
}

// Privilege is one action a role allows, on a resource when the action is
// not global ("" for global actions).
type Privilege struct {
	Action   string `json:"action"`
	Resource string `json:"resource,omitempty"`
	Cluster  string `json:"cluster,omitempty"`
}

// Role is a custom role (the built-in ones are not stored).
type Role struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Privileges  []Privilege `json:"privileges"`
	CreatedAt   string      `json:"created_at"`
	CreatedBy   string      `json:"created_by"`
}

// ScheduledLambda runs a query lambda version (or the version a tag names
// when it runs) on a cron schedule, with an API key held as its SHA-256 only,
// as API keys are: each run looks the key up again, so a deleted or suspended
// key stops it.
type ScheduledLambda struct {
	RRN        string `json:"rrn"`
	Workspace  string `json:"workspace"`
	Lambda     string `json:"lambda"`
	Version    string `json:"version,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Cron       string `json:"cron"`
	KeyHash    string `json:"key_hash"`              // hex SHA-256 of the key it runs with
	TotalTimes int64  `json:"total_times,omitempty"` // 0: forever
	CreatedAt  string `json:"created_at"`
	CreatedBy  string `json:"created_by"`

	Executions     int64  `json:"executions"`
	NextRunAt      string `json:"next_run_at,omitempty"` // "" when it will not run again
	LastRunAt      string `json:"last_run_at,omitempty"`
	LastCompletion string `json:"last_completion,omitempty"` // the last run that succeeded
	LastQueryID    string `json:"last_query_id,omitempty"`
	LastState      string `json:"last_state,omitempty"` // "" (succeeded), WARNING (will run again) or ERROR
	LastError      string `json:"last_error,omitempty"`
	Suspended      bool   `json:"suspended,omitempty"` // after an ERROR, until resume_permanent_error
}
