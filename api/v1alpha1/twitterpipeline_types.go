package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TwitterPipelineSpec is what the user wants: a source of posts, the Kinesis
// stream they flow through, the Rockset collection that ingests them, and the
// producer that moves them.
type TwitterPipelineSpec struct {
	// source says where posts come from: exactly one of x, bluesky or replay.
	// +required
	Source SourceSpec `json:"source"`

	// stream is the Kinesis stream between the producer and the collection.
	// +optional
	// +kubebuilder:default={}
	Stream StreamSpec `json:"stream,omitempty"`

	// rockset is the Rockset-API endpoint and the collection that ingests the stream.
	// +optional
	// +kubebuilder:default={}
	Rockset RocksetSpec `json:"rockset,omitempty"`

	// producer configures the Deployment that reads the source and writes to the stream.
	// +optional
	// +kubebuilder:default={}
	Producer ProducerSpec `json:"producer,omitempty"`

	// deletionPolicy says what happens to the stream, the integration and the
	// collection when the TwitterPipeline is deleted: Delete (default) removes
	// them, Retain keeps them and their data.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// adoption says whether the pipeline may take over a Kinesis stream, a
	// Rockset integration or a collection of its names that it did not create
	// (no streamdash.io/pipeline tag or description marker of this pipeline).
	// Default: it does not, and the pipeline stalls with reason
	// AdoptionRequired and a message saying how to adopt. What was adopted is
	// kept at deletion unless adoption.deleteAdopted is true.
	// +optional
	Adoption *AdoptionSpec `json:"adoption,omitempty"`
}

// AdoptionSpec is the pipeline's adoption policy, in the style of ACK's
// services.k8s.aws/adoption-policy.
type AdoptionSpec struct {
	// policy is Never (default: only what the pipeline creates is used) or
	// Adopt (an existing stream, integration or collection of the pipeline's
	// names is taken over and marked as adopted).
	// +optional
	// +kubebuilder:default=Never
	Policy AdoptionPolicy `json:"policy,omitempty"`

	// deleteAdopted, with deletionPolicy Delete, also deletes what was
	// adopted. Default false: adopted parts outlive the pipeline.
	// +optional
	DeleteAdopted bool `json:"deleteAdopted,omitempty"`
}

// AdoptionPolicy says whether existing external resources may be taken over.
// +kubebuilder:validation:Enum=Never;Adopt
type AdoptionPolicy string

const (
	// AdoptionNever uses only what the pipeline created itself.
	AdoptionNever AdoptionPolicy = "Never"
	// AdoptionAdopt takes over existing resources of the pipeline's names.
	AdoptionAdopt AdoptionPolicy = "Adopt"
)

// DeletionPolicy says whether external resources outlive the TwitterPipeline.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes the stream, the integration and the collection.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves them in place.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// SourceSpec chooses the source of posts. Exactly one field is set.
// +kubebuilder:validation:XValidation:rule="[has(self.x), has(self.bluesky), has(self.replay)].filter(s, s).size() == 1",message="set exactly one source: x, bluesky or replay"
type SourceSpec struct {
	// x reads the X (Twitter) API v2 filtered stream.
	// +optional
	X *XSource `json:"x,omitempty"`

	// bluesky reads public posts from a Bluesky Jetstream endpoint.
	// +optional
	Bluesky *BlueskySource `json:"bluesky,omitempty"`

	// replay replays recorded posts, or generates synthetic ones from a seed.
	// It needs no account and is the source for demos and tests.
	// +optional
	Replay *ReplaySource `json:"replay,omitempty"`
}

// XSource reads the X API v2 filtered stream.
type XSource struct {
	// bearerTokenSecretRef selects the key of a Secret in the pipeline's
	// namespace that holds the app's OAuth 2.0 bearer token. The token is
	// passed to the producer from the Secret and never copied anywhere else.
	// +required
	BearerTokenSecretRef SecretKeyReference `json:"bearerTokenSecretRef"`

	// rules are the filtered-stream rules the stream should match. The
	// producer adds missing rules and deletes the rules it owns that are no
	// longer listed, so the account's rules follow this list.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	Rules []XRule `json:"rules"`

	// endpoint overrides the API's base URL (default https://api.x.com).
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	Endpoint string `json:"endpoint,omitempty"`
}

// XRule is one filtered-stream rule.
type XRule struct {
	// value is the rule in X's rule syntax, for example "music has:hashtags".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value"`

	// tag labels the rule; posts carry the tags of the rules they matched.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Tag string `json:"tag,omitempty"`
}

// BlueskySource reads posts from a Bluesky Jetstream WebSocket.
type BlueskySource struct {
	// endpoint is the Jetstream subscribe URL.
	// +optional
	// +kubebuilder:default="wss://jetstream2.us-east.bsky.network/subscribe"
	// +kubebuilder:validation:Pattern=`^wss?://`
	Endpoint string `json:"endpoint,omitempty"`

	// languages keeps only posts in these languages (BCP 47 codes such as "en").
	// Empty keeps every language.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=set
	Languages []string `json:"languages,omitempty"`

	// keywords keeps only posts whose text contains one of these words
	// (case-insensitive). Empty keeps every post.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	Keywords []string `json:"keywords,omitempty"`
}

// ReplaySource replays recorded posts or generates synthetic ones.
// +kubebuilder:validation:XValidation:rule="[has(self.configMapRef), has(self.file), has(self.synthetic)].filter(s, s).size() == 1",message="replay needs exactly one of configMapRef, file or synthetic"
type ReplaySource struct {
	// configMapRef selects a ConfigMap key holding newline-delimited JSON posts.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`

	// file is the path of a newline-delimited JSON file inside the producer's
	// container (for a custom image or a mounted volume).
	// +optional
	// +kubebuilder:validation:MinLength=1
	File string `json:"file,omitempty"`

	// synthetic generates realistic posts from a seed: the same seed gives the
	// same posts, so the expected dashboard can be computed in advance.
	// +optional
	Synthetic *SyntheticSource `json:"synthetic,omitempty"`

	// format of recorded posts: auto (detect per line), canonical, x-v2 or v1.1.
	// +optional
	// +kubebuilder:default=auto
	Format ReplayFormat `json:"format,omitempty"`

	// rate is the number of posts written per second.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Rate int32 `json:"rate,omitempty"`

	// rewriteTimestamps stamps each post with the time it is replayed, so that
	// replayed data lands inside the dashboards' windows. Default true.
	// +optional
	// +kubebuilder:default=true
	RewriteTimestamps *bool `json:"rewriteTimestamps,omitempty"`

	// loop starts again from the beginning when recorded posts run out.
	// +optional
	Loop bool `json:"loop,omitempty"`
}

// ReplayFormat is the format of recorded posts.
// +kubebuilder:validation:Enum=auto;canonical;x-v2;v1.1
type ReplayFormat string

// SyntheticSource generates posts from a seed.
type SyntheticSource struct {
	// seed selects the sequence of generated posts.
	// +required
	Seed int64 `json:"seed"`

	// count stops after this many posts; 0 (default) never stops.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Count int64 `json:"count,omitempty"`
}

// StreamSpec is the Kinesis stream.
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",message="stream.name cannot change after creation"
// +kubebuilder:validation:XValidation:rule="has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)",message="stream.region cannot change after creation"
// +kubebuilder:validation:XValidation:rule="!(has(self.credentialsSecretRef) && has(self.roleARN))",message="set at most one of stream.credentialsSecretRef and stream.roleARN"
type StreamSpec struct {
	// name of the Kinesis stream. Default: streamdash-<namespace>-<name>.
	// An existing stream of this name is adopted. Cannot change after creation.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]+$`
	Name string `json:"name,omitempty"`

	// shardCount is the number of open shards. Changes are applied with
	// uniform scaling, at most doubling or halving per step. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	ShardCount int32 `json:"shardCount,omitempty"`

	// retentionHours is how long the stream keeps records, 24 to 8760 hours.
	// Default: Kinesis's default of 24.
	// +optional
	// +kubebuilder:validation:Minimum=24
	// +kubebuilder:validation:Maximum=8760
	RetentionHours int32 `json:"retentionHours,omitempty"`

	// region of the stream. Default: the operator's AWS region. Cannot change after creation.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-[a-z]+)+-[0-9]+$`
	Region string `json:"region,omitempty"`

	// credentialsSecretRef names a Secret in the pipeline's namespace with keys
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY that the producer and the
	// collection use to reach the stream. Default: the operator's own AWS
	// identity for the stream, and the producer's pod identity (IRSA or EKS Pod Identity).
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// roleARN is an IAM role the collection assumes to read the stream.
	// +optional
	// +kubebuilder:validation:Pattern=`^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$`
	RoleARN string `json:"roleARN,omitempty"`
}

// RocksetSpec is the Rockset-API endpoint and the collection.
// +kubebuilder:validation:XValidation:rule="has(self.collection) == has(oldSelf.collection) && (!has(self.collection) || self.collection == oldSelf.collection)",message="rockset.collection cannot change after creation"
// +kubebuilder:validation:XValidation:rule="has(self.retention) == has(oldSelf.retention) && (!has(self.retention) || self.retention == oldSelf.retention)",message="rockset.retention cannot change after creation (Rockset cannot change a collection's retention)"
type RocksetSpec struct {
	// apiServer is the Rockset-API endpoint, as http://host:port or
	// https://host. Default: the operator's (the bundled analytics server).
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	APIServer string `json:"apiServer,omitempty"`

	// apiKeySecretRef selects the key of a Secret in the pipeline's namespace
	// that holds the API key. Default: the operator's API key.
	// +optional
	APIKeySecretRef *SecretKeyReference `json:"apiKeySecretRef,omitempty"`

	// workspace holds the collection. Default commons. Cannot change after creation.
	// +optional
	// +kubebuilder:default=commons
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[[:alnum:]][[:alnum:]_-]*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="rockset.workspace cannot change after creation"
	Workspace string `json:"workspace,omitempty"`

	// collection is the collection's name. Default: the TwitterPipeline's name.
	// Cannot change after creation.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[[:alnum:]][[:alnum:]_-]*$`
	Collection string `json:"collection,omitempty"`

	// retention drops documents older than this (by tweet time), at least 1h.
	// Default: keep everything. Cannot change after creation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="rockset.retention must be at least 1h"
	Retention *metav1.Duration `json:"retention,omitempty"`

	// ingestTransformation is a SQL query over _input applied to documents as
	// they are ingested, for example to drop fields:
	// "SELECT * EXCEPT (text) FROM _input".
	// +optional
	// +kubebuilder:validation:MaxLength=10000
	// +kubebuilder:validation:XValidation:rule="self.contains('_input')",message="rockset.ingestTransformation must select FROM _input"
	IngestTransformation string `json:"ingestTransformation,omitempty"`
}

// ProducerSpec configures the producer Deployment.
type ProducerSpec struct {
	// replicas is 1 to run the producer or 0 to pause the pipeline. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the producer container. Default: requests 50m CPU and
	// 64Mi memory, limit 256Mi memory.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// image overrides the producer's container image. Default: the operator's own image.
	// +optional
	Image string `json:"image,omitempty"`
}

// SecretKeyReference selects a key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// ConfigMapKeyReference selects a key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the ConfigMap's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TwitterPipelineStatus is what the operator observed.
type TwitterPipelineStatus struct {
	// observedGeneration is the generation of the spec that the last
	// successful reconcile acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (everything works), StreamReady, CollectionReady,
	// ProducerReady (which part is not ready and why), Reconciling (work under
	// way) and Stalled (the user must change something).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// sourceType is the kind of source in use: x, bluesky or replay.
	// +optional
	SourceType string `json:"sourceType,omitempty"`

	// stream is the Kinesis stream as last observed.
	// +optional
	Stream *StreamStatus `json:"stream,omitempty"`

	// integration is the Rockset Kinesis integration.
	// +optional
	Integration *IntegrationStatus `json:"integration,omitempty"`

	// collection is the Rockset collection as last observed.
	// +optional
	Collection *CollectionStatus `json:"collection,omitempty"`

	// producer is the producer Deployment as last observed.
	// +optional
	Producer *ProducerStatus `json:"producer,omitempty"`
}

// StreamStatus describes the Kinesis stream.
type StreamStatus struct {
	// name of the stream.
	Name string `json:"name"`
	// arn of the stream.
	// +optional
	ARN string `json:"arn,omitempty"`
	// status is Kinesis's: CREATING, ACTIVE, UPDATING or DELETING.
	// +optional
	Status string `json:"status,omitempty"`
	// openShards is the number of open shards.
	// +optional
	OpenShards int32 `json:"openShards,omitempty"`
}

// IntegrationStatus describes the Rockset integration.
type IntegrationStatus struct {
	// name of the integration.
	Name string `json:"name"`
	// credentialsChecksum fingerprints (salted, one-way) the AWS access keys
	// the integration was last given, so that keys rotated in
	// spec.stream.credentialsSecretRef are passed on to it.
	// +optional
	CredentialsChecksum string `json:"credentialsChecksum,omitempty"`
}

// CollectionStatus describes the Rockset collection.
type CollectionStatus struct {
	// workspace of the collection.
	Workspace string `json:"workspace"`
	// name of the collection.
	Name string `json:"name"`
	// status is Rockset's: CREATED, READY, ...
	// +optional
	Status string `json:"status,omitempty"`
	// documentCount is the number of documents in the collection.
	// +optional
	DocumentCount int64 `json:"documentCount,omitempty"`
	// lastIngestTime is when a document was last ingested.
	// +optional
	LastIngestTime *metav1.Time `json:"lastIngestTime,omitempty"`
}

// ProducerStatus describes the producer Deployment.
type ProducerStatus struct {
	// readyReplicas is the number of producer pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// postsWritten is the number of posts the producer has written to the stream,
	// when known.
	// +optional
	PostsWritten int64 `json:"postsWritten,omitempty"`
}

// TwitterPipeline turns a source of posts into a Kinesis stream, a Rockset
// collection that ingests it and a producer that fills it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tp;pipeline,categories=streamdash
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.sourceType`
// +kubebuilder:printcolumn:name="Stream",type=string,JSONPath=`.status.stream.name`
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.status.stream.openShards`
// +kubebuilder:printcolumn:name="Documents",type=integer,JSONPath=`.status.collection.documentCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters: it becomes a label value on the producer and part of its stream and collection names"
type TwitterPipeline struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pipeline.
	// +required
	Spec TwitterPipelineSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status TwitterPipelineStatus `json:"status,omitempty"`
}

// TwitterPipelineList is a list of TwitterPipelines.
//
// +kubebuilder:object:root=true
type TwitterPipelineList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TwitterPipeline `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TwitterPipeline{}, &TwitterPipelineList{})
}
