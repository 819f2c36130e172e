package rockset

import "time"

// Collection states and source states, as Rockset spells them.
const (
	CollectionReady   = "READY"
	CollectionDeleted = "DELETED"

	SourceInitializing = "INITIALIZING"
	SourceWatching     = "WATCHING"
	SourceProcessing   = "PROCESSING"
	SourceCompleted    = "COMPLETED"
	SourceError        = "ERROR"
	SourceSuspended    = "SUSPENDED"
)

// Collection is what streamdash reads of a collection: the fields it
// decides on, in its own types, so callers never hold the client's
// generated ones.
type Collection struct {
	Workspace   string
	Name        string
	Description string
	// Status is the collection's state (READY, CREATED, ...).
	Status string
	// RetentionSecs is 0 when the collection keeps documents forever.
	RetentionSecs int64
	// Transform is the ingest transformation's SQL, "" for none.
	Transform string
	Sources   []Source
	// DocCount is the number of documents stored.
	DocCount int64
	// LastUpdated is when a document last arrived; zero before the first.
	LastUpdated time.Time
}

// Source is one source of a collection and its ingest state.
type Source struct {
	IntegrationName string
	Stream          string
	Region          string
	// State is INITIALIZING, WATCHING, PROCESSING, COMPLETED, ERROR or SUSPENDED.
	State string
	// Message is the server's word on the state (the reason of an ERROR).
	Message string
}

// Integration is a Kinesis integration as read.
type Integration struct {
	Name        string
	Description string
}

// AWSCredentials are how an integration reads Kinesis: access keys, a role,
// or neither (the server's own identity).
type AWSCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	RoleARN         string
}

// CollectionSpec is everything a collection is created with.
type CollectionSpec struct {
	Description string
	// Integration, Stream and Region name the one Kinesis source.
	Integration string
	Stream      string
	Region      string
	// OffsetResetPolicy is where a new source starts: EARLIEST or LATEST.
	OffsetResetPolicy string
	// EventTimeField holds milliseconds since the epoch.
	EventTimeField string
	// RetentionSecs is 0 for no retention.
	RetentionSecs int64
	// Transform is the ingest transformation, "" for none.
	Transform string
}

// CollectionChange is the part of a collection Rockset can change in place;
// a nil field stays as it is.
type CollectionChange struct {
	Description *string
	Transform   *string
}
