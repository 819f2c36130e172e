package twitterpipeline

// Condition reasons (CamelCase, as the API conventions want) and the reasons
// of the events recorded for actions. Every condition change is also an
// event with the condition's reason (controllers/status).
const (
	// Ready.
	ReasonPipelineReady      = "PipelineReady"
	ReasonStreamNotReady     = "StreamNotReady"
	ReasonCollectionNotReady = "CollectionNotReady"
	ReasonProducerNotReady   = "ProducerNotReady"
	ReasonDeleting           = "Deleting"

	// Reconciling.
	ReasonProgressing = "Progressing"

	// Stalled (and the Ready reason while stalled).
	ReasonInvalidSpec         = "InvalidSpec"
	ReasonMissingSecret       = "MissingSecret"
	ReasonMissingConfigMap    = "MissingConfigMap"
	ReasonCredentialsRejected = "CredentialsRejected"
	ReasonShardLimitExceeded  = "ShardLimitExceeded"
	ReasonStreamConflict      = "StreamConflict"
	ReasonRocksetAuthFailed   = "RocksetAuthFailed"
	ReasonRocksetRejected     = "RocksetRejected"
	ReasonCollectionConflict  = "CollectionConflict"
	ReasonProducerConflict    = "ProducerConflict"
	ReasonDeletionBlocked     = "DeletionBlocked"
	// ReasonAdoptionRequired: a stream, integration or collection of the
	// pipeline's names exists and was not created by it.
	ReasonAdoptionRequired = "AdoptionRequired"
	// ReasonIntegrationCredentialsStale: rotated AWS keys could not be
	// given to the integration.
	ReasonIntegrationCredentialsStale = "IntegrationCredentialsStale"

	// StreamReady.
	ReasonStreamActive     = "StreamActive"
	ReasonStreamCreating   = "StreamCreating"
	ReasonStreamUpdating   = "StreamUpdating"
	ReasonStreamResharding = "StreamResharding"
	ReasonStreamDeleting   = "StreamDeleting"
	ReasonStreamRecreated  = "StreamRecreated"
	ReasonStreamThrottled  = "StreamThrottled"
	ReasonStreamError      = "StreamError"

	// CollectionReady.
	ReasonCollectionReady      = "CollectionReady"
	ReasonCollectionCreating   = "CollectionCreating"
	ReasonCollectionPending    = "CollectionPending"
	ReasonWaitingForStream     = "WaitingForStream"
	ReasonAnalyticsUnreachable = "AnalyticsUnreachable"
	ReasonRocksetThrottled     = "RocksetThrottled"
	ReasonRocksetError         = "RocksetError"
	// ReasonIngestFailed: the collection exists but its source cannot ingest
	// (its state is ERROR or SUSPENDED); the message carries the source's.
	ReasonIngestFailed = "IngestFailed"

	// ProducerReady.
	ReasonProducerAvailable   = "ProducerAvailable"
	ReasonProducerPaused      = "ProducerPaused"
	ReasonProducerProgressing = "ProducerProgressing"
	ReasonProducerFailed      = "ProducerFailed"
)

// Event reasons for actions on the parts (Normal unless noted).
const (
	EventStreamCreated      = "StreamCreated"
	EventStreamAdopted      = "StreamAdopted"
	EventStreamRecreated    = "StreamRecreated" // Warning
	EventStreamResharding   = "StreamResharding"
	EventStreamRetention    = "StreamRetentionChanged"
	EventStreamTagged       = "StreamTagged"
	EventStreamDeleted      = "StreamDeleted"
	EventIntegrationCreated = "IntegrationCreated"
	EventIntegrationAdopted = "IntegrationAdopted"
	EventIntegrationRotated = "IntegrationCredentialsRotated"
	EventCollectionAdopted  = "CollectionAdopted"
	EventIntegrationDeleted = "IntegrationDeleted"
	EventWorkspaceCreated   = "WorkspaceCreated"
	EventCollectionCreated  = "CollectionCreated"
	EventCollectionUpdated  = "CollectionUpdated"
	EventCollectionDeleted  = "CollectionDeleted"
	EventProducerCreated    = "ProducerCreated"
	EventProducerUpdated    = "ProducerUpdated"
	EventProducerDeleted    = "ProducerDeleted"
	EventAPIKeyCopyRemoved  = "APIKeyCopyRemoved"
	EventResourcesRetained  = "ResourcesRetained"
	EventCleanupFinished    = "CleanupFinished"
)

// failureReasons are the reasons that mean something is wrong rather than in
// progress: their condition events are Warnings.
var failureReasons = map[string]bool{
	ReasonInvalidSpec: true, ReasonMissingSecret: true, ReasonMissingConfigMap: true,
	ReasonCredentialsRejected: true, ReasonShardLimitExceeded: true, ReasonStreamConflict: true,
	ReasonRocksetAuthFailed: true, ReasonRocksetRejected: true, ReasonCollectionConflict: true,
	ReasonProducerConflict: true, ReasonDeletionBlocked: true,
	ReasonAdoptionRequired: true, ReasonStreamRecreated: true, ReasonStreamThrottled: true,
	ReasonStreamError: true, ReasonAnalyticsUnreachable: true, ReasonRocksetThrottled: true,
	ReasonRocksetError: true, ReasonIngestFailed: true, ReasonProducerFailed: true,
	ReasonIntegrationCredentialsStale: true,
}
