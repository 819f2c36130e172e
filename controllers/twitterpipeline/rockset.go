package twitterpipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	rs "github.com/rockset/rockset-go-client"
	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"
	rsretry "github.com/rockset/rockset-go-client/retry"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/status"
	rocksetclient "github.com/streamdash/streamdash/internal/rockset"
)

// RocksetAPI is the part of rockset-go-client's *RockClient the controller
// uses; tests substitute it only to produce 429s and 503s.
type RocksetAPI interface {
	GetIntegration(ctx context.Context, name string) (openapi.Integration, error)
	CreateKinesisIntegration(ctx context.Context, name string, creds option.AWSCredentialsFn,
		options ...option.KinesisIntegrationOption) (openapi.Integration, error)
	DeleteIntegration(ctx context.Context, name string) error
	GetWorkspace(ctx context.Context, workspace string) (openapi.Workspace, error)
	CreateWorkspace(ctx context.Context, workspace string, options ...option.WorkspaceOption) (openapi.Workspace, error)
	GetCollection(ctx context.Context, workspace, name string) (openapi.Collection, error)
	CreateCollection(ctx context.Context, workspace, name string, options ...option.CollectionOption) (openapi.Collection, error)
	UpdateCollection(ctx context.Context, workspace, name string, options ...option.CollectionOption) (openapi.Collection, error)
	DeleteCollection(ctx context.Context, workspace, name string) error
}

var _ RocksetAPI = (*rs.RockClient)(nil)

// noRetry makes each client call a single request. The stock retrier retries
// 429/503 forever inside the call, which would hold a worker; the controller
// backs off itself, with jitter, between reconciles.
type noRetry struct{}

func (noRetry) Retry(_ context.Context, fn rsretry.Func) error { return fn() }
func (noRetry) RetryWithCheck(_ context.Context, fn rsretry.CheckFn) error {
	_, err := fn()
	return err
}

func newRocksetClient(httpClient *http.Client) func(conn rocksetconn.Connection) (RocksetAPI, error) {
	return func(conn rocksetconn.Connection) (RocksetAPI, error) {
		rc, err := rocksetclient.NewClient(conn.APIServer, conn.APIKey, httpClient)
		if err != nil {
			return nil, err
		}
		rc.Retrier = noRetry{}
		return rc, nil
	}
}

// rocksetKind sorts a Rockset-API error by what the controller does about it.
type rocksetKind int

const (
	rsOther rocksetKind = iota
	rsNotFound
	rsConflict
	rsThrottled
	rsUnreachable
	rsAuth
	rsRejected
)

func classifyRockset(err error) rocksetKind {
	var re rockerr.Error
	if !errors.As(err, &re) {
		return rsOther
	}
	if re.StatusCode == 0 {
		// No HTTP answer at all: refused, DNS, timeout.
		return rsUnreachable
	}
	switch code := re.StatusCode; {
	case code == http.StatusNotFound:
		return rsNotFound
	case code == http.StatusConflict:
		return rsConflict
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable,
		code == http.StatusGatewayTimeout, code == http.StatusBadGateway:
		return rsThrottled
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return rsAuth
	case code == http.StatusBadRequest, code == http.StatusUnprocessableEntity:
		return rsRejected
	default:
		return rsOther
	}
}

// apiKeyish matches long opaque tokens, so a server that echoes a header in
// an error message cannot put the key into status or events.
var apiKeyish = regexp.MustCompile(`[A-Za-z0-9+/=]{32,}`)

func rocksetMessage(err error) string {
	msg := err.Error()
	var re rockerr.Error
	if errors.As(err, &re) && re.ErrorModel != nil && re.GetMessage() != "" {
		msg = re.GetMessage()
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return apiKeyish.ReplaceAllString(msg, "[redacted]")
}

// rocksetFailed turns a Rockset-API error into the CollectionReady condition
// and an intent. A server that is down or overloaded is a condition and a
// backoff, never a crash; a rejected key or request stalls.
func (r *Reconciler) rocksetFailed(s *pass, what string, err error) outcome {
	msg := fmt.Sprintf("%s: %s", what, rocksetMessage(err))
	switch classifyRockset(err) {
	case rsUnreachable:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonAnalyticsUnreachable,
			fmt.Sprintf("cannot reach the Rockset API at %s (%s); retrying with backoff", s.conn.APIServer, what))
		return retry(err)
	case rsThrottled:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetThrottled,
			fmt.Sprintf("the Rockset API at %s is busy (%s); retrying with backoff", s.conn.APIServer, what))
		return retry(err)
	case rsAuth:
		m := fmt.Sprintf("the Rockset API at %s rejected the API key (%s); fix the key's Secret", s.conn.APIServer, what)
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetAuthFailed, m)
		return stalled(ReasonRocksetAuthFailed, m, r.opts.ResyncPeriod)
	case rsRejected:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetRejected, msg)
		return stalled(ReasonRocksetRejected, msg, r.opts.ResyncPeriod)
	default:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetError, msg)
		return retry(err)
	}
}

func description(p *v1alpha1.TwitterPipeline) string {
	return fmt.Sprintf("streamdash TwitterPipeline %s/%s", p.Namespace, p.Name)
}

// integrationCredentials are the pipeline's AWS credentials for the
// collection: access keys from the Secret, or the role ARN. With neither,
// the server reads the stream with its own identity.
func integrationCredentials(s *pass) option.AWSCredentialsFn {
	switch {
	case s.awsCreds != nil:
		return option.AWSKeys(s.awsCreds.AccessKeyID, s.awsCreds.SecretAccessKey)
	case s.p.Spec.Stream.RoleARN != "":
		return option.AWSRole(s.p.Spec.Stream.RoleARN)
	default:
		return func(*option.AWSCredentials) {}
	}
}

// reconcileIntegration makes sure the pipeline's Kinesis integration exists.
// Integrations cannot be updated through the API, so an existing one of the
// pipeline's name is adopted as it is.
func (r *Reconciler) reconcileIntegration(ctx context.Context, s *pass) outcome {
	name := rocksetconn.Integration(s.p)
	_, err := s.rockset.GetIntegration(ctx, name)
	if err == nil {
		s.integrationOK = true
		return done()
	}
	if classifyRockset(err) != rsNotFound {
		return r.rocksetFailed(s, "read integration "+name, err)
	}
	_, err = s.rockset.CreateKinesisIntegration(ctx, name, integrationCredentials(s),
		option.WithKinesisIntegrationDescription(description(s.p)))
	if err != nil && classifyRockset(err) != rsConflict {
		what := "create integration " + name
		if s.awsCreds == nil && s.p.Spec.Stream.RoleARN == "" {
			// The server may insist on credentials of its own for the stream.
			what += " (no spec.stream.credentialsSecretRef or spec.stream.roleARN given)"
		}
		return r.rocksetFailed(s, what, err)
	}
	r.event(s.p, status.EventNormal, EventIntegrationCreated, "Create", fmt.Sprintf("created Rockset Kinesis integration %s", name))
	s.integrationOK = true
	return done()
}

// Collection settings that follow from the canonical tweet document.
const (
	eventTimeField    = "timestamp_ms"
	offsetResetPolicy = "EARLIEST"
	collectionReady   = "READY"
	identityTransform = "SELECT * FROM _input"
)

// withKinesisSource sets the one source: the pipeline's stream, JSON, read
// from the earliest record so nothing produced before the collection existed
// is lost. CreateKinesisCollection cannot set offset_reset_policy, hence a
// CollectionOption of our own.
func withKinesisSource(integration, stream, region string) option.CollectionOption {
	return func(req *openapi.CreateCollectionRequest) {
		req.Sources = []openapi.Source{{
			IntegrationName: openapi.PtrString(integration),
			Kinesis: &openapi.SourceKinesis{
				StreamName:        stream,
				AwsRegion:         openapi.PtrString(region),
				OffsetResetPolicy: openapi.PtrString(offsetResetPolicy),
			},
			FormatParams: &openapi.FormatParams{Json: openapi.PtrBool(true)},
		}}
	}
}

// collectionOptions is the full create request for the pipeline's collection.
func collectionOptions(p *v1alpha1.TwitterPipeline, streamName, region string) []option.CollectionOption {
	opts := []option.CollectionOption{
		option.WithCollectionDescription(description(p)),
		withKinesisSource(rocksetconn.Integration(p), streamName, region),
		option.WithEventTimeInfo(eventTimeField, "UTC", option.MillisecondsSinceEpoch),
	}
	if r := p.Spec.Rockset.Retention; r != nil {
		opts = append(opts, option.WithCollectionRetentionSeconds(int64(r.Duration/time.Second)))
	}
	if t := p.Spec.Rockset.IngestTransformation; strings.TrimSpace(t) != "" {
		opts = append(opts, option.WithIngestTransformation(t))
	}
	return opts
}

// normalizeTransform treats "no transformation" and the identity query alike,
// since a collection's transformation can be changed but not removed.
func normalizeTransform(sql string) string {
	f := strings.Join(strings.Fields(sql), " ")
	if f == "" || strings.EqualFold(f, identityTransform) {
		return ""
	}
	return f
}

// collectionUpdate returns the update options when the description or the
// ingest transformation differ (the only fields Rockset can change), or nil.
func collectionUpdate(p *v1alpha1.TwitterPipeline, c openapi.Collection) []option.CollectionOption {
	var opts []option.CollectionOption
	if c.GetDescription() != description(p) {
		opts = append(opts, option.WithCollectionDescription(description(p)))
	}
	observed := ""
	if c.FieldMappingQuery != nil {
		observed = c.FieldMappingQuery.GetSql()
	}
	if want := p.Spec.Rockset.IngestTransformation; normalizeTransform(want) != normalizeTransform(observed) {
		if normalizeTransform(want) == "" {
			want = identityTransform
		}
		opts = append(opts, option.WithIngestTransformation(want))
	}
	return opts
}

// collectionSourceStream is the stream an existing collection reads.
func collectionSourceStream(c openapi.Collection) string {
	for _, src := range c.Sources {
		if src.Kinesis != nil {
			return src.Kinesis.StreamName
		}
	}
	return ""
}

// reconcileCollection creates the collection once the stream exists, keeps
// its description and ingest transformation as the spec says, and records
// its state.
func (r *Reconciler) reconcileCollection(ctx context.Context, s *pass) outcome {
	if !s.integrationOK {
		return done() // reconcileIntegration has said why
	}
	p := s.p
	ws, name := rocksetconn.Workspace(p), rocksetconn.Collection(p)
	what := fmt.Sprintf("collection %s.%s", ws, name)

	c, err := s.rockset.GetCollection(ctx, ws, name)
	if err != nil && classifyRockset(err) != rsNotFound {
		return r.rocksetFailed(s, "read "+what, err)
	}
	if err != nil {
		if s.stream == nil || s.stream.Status == "DELETING" {
			s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonWaitingForStream,
				fmt.Sprintf("%s will be created once stream %s exists", what, s.streamName))
			return waitFor(waitStream)
		}
		if ws != rocksetconn.DefaultWorkspace {
			if o := r.ensureWorkspace(ctx, s, ws); o.intent != intentDone {
				return o
			}
		}
		if _, err := s.rockset.CreateCollection(ctx, ws, name, collectionOptions(p, s.streamName, s.region)...); err != nil &&
			classifyRockset(err) != rsConflict {
			return r.rocksetFailed(s, "create "+what, err)
		}
		r.event(p, status.EventNormal, EventCollectionCreated, "Create",
			fmt.Sprintf("created %s reading stream %s from the earliest record", what, s.streamName))
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionCreating, fmt.Sprintf("creating %s", what))
		return waitFor(waitCollection)
	}

	if src := collectionSourceStream(c); src != "" && src != s.streamName {
		msg := fmt.Sprintf("%s already exists and reads stream %s, not %s; choose another spec.rockset.collection", what, src, s.streamName)
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionConflict, msg)
		return stalled(ReasonCollectionConflict, msg, r.opts.ResyncPeriod)
	}
	if opts := collectionUpdate(p, c); len(opts) > 0 {
		updated, err := s.rockset.UpdateCollection(ctx, ws, name, opts...)
		if err != nil {
			return r.rocksetFailed(s, "update "+what, err)
		}
		r.event(p, status.EventNormal, EventCollectionUpdated, "Update",
			fmt.Sprintf("updated the description and ingest transformation of %s", what))
		if updated.Name != nil {
			c = updated
		}
	}
	s.collection = &c

	if st := c.GetStatus(); st != collectionReady {
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionPending, fmt.Sprintf("%s is %s", what, st))
		return waitFor(waitCollection)
	}
	msg := fmt.Sprintf("%s is READY", what)
	if want := p.Spec.Rockset.Retention; want != nil && c.RetentionSecs != nil && *c.RetentionSecs != int64(want.Duration/time.Second) {
		msg += fmt.Sprintf("; its retention (%ds) differs from spec.rockset.retention and cannot change in place", *c.RetentionSecs)
	}
	s.setPart(v1alpha1.ConditionCollectionReady, true, ReasonCollectionReady, msg)
	return observeIngest(p.Status.Collection, c)
}

// observeIngest looks again after ingestCheck while the collection's document
// count is moving, so documentCount in status follows ingest; once it stops
// moving, the pipeline is left alone until the resync (a quiet steady state).
func observeIngest(last *v1alpha1.CollectionStatus, c openapi.Collection) outcome {
	if last != nil && c.Stats != nil && last.DocumentCount == c.Stats.GetDocCount() {
		return done()
	}
	return outcome{intent: intentDone, after: ingestCheck}
}

func (r *Reconciler) ensureWorkspace(ctx context.Context, s *pass, ws string) outcome {
	_, err := s.rockset.GetWorkspace(ctx, ws)
	if err == nil {
		return done()
	}
	if classifyRockset(err) != rsNotFound {
		return r.rocksetFailed(s, "read workspace "+ws, err)
	}
	if _, err := s.rockset.CreateWorkspace(ctx, ws, option.WithWorkspaceDescription("created by streamdash")); err != nil &&
		classifyRockset(err) != rsConflict {
		return r.rocksetFailed(s, "create workspace "+ws, err)
	}
	r.event(s.p, status.EventNormal, EventWorkspaceCreated, "Create", fmt.Sprintf("created Rockset workspace %s", ws))
	return done()
}
