package twitterpipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/rockset"
)

func newRocksetClient(httpClient *http.Client) func(conn rocksetconn.Connection) (rockset.API, error) {
	return func(conn rocksetconn.Connection) (rockset.API, error) {
		return rockset.New(conn.APIServer, conn.APIKey, httpClient)
	}
}

// rocksetFailed turns a Rockset-API error into the CollectionReady condition
// and an intent. A server that is down or overloaded is a condition and a
// backoff, never a crash; a rejected key or request stalls.
func (r *Reconciler) rocksetFailed(s *pass, what string, err error) steps.Outcome {
	msg := fmt.Sprintf("%s: %s", what, rockset.Message(err))
	switch rockset.KindOf(err) {
	case rockset.KindUnreachable:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonAnalyticsUnreachable,
			fmt.Sprintf("cannot reach the Rockset API at %s (%s); retrying with backoff", s.conn.APIServer, what))
		return steps.Retry(err)
	case rockset.KindThrottled:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetThrottled,
			fmt.Sprintf("the Rockset API at %s is busy (%s); retrying with backoff", s.conn.APIServer, what))
		return steps.Retry(err)
	case rockset.KindAuth:
		m := fmt.Sprintf("the Rockset API at %s rejected the API key (%s); fix the key's Secret", s.conn.APIServer, what)
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetAuthFailed, m)
		return steps.Stalled(ReasonRocksetAuthFailed, m, r.opts.ResyncPeriod)
	case rockset.KindRejected:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetRejected, msg)
		return steps.Stalled(ReasonRocksetRejected, msg, r.opts.ResyncPeriod)
	default:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonRocksetError, msg)
		return steps.Retry(err)
	}
}

// description marks what the pipeline created; adoptedDescription what it adopted.
func description(p *v1alpha1.TwitterPipeline) string {
	return fmt.Sprintf("streamdash TwitterPipeline %s/%s", p.Namespace, p.Name)
}

func adoptedDescription(p *v1alpha1.TwitterPipeline) string {
	return description(p) + " (adopted)"
}

// adoptionAllowed says whether the user asked to take over existing parts.
func adoptionAllowed(p *v1alpha1.TwitterPipeline) bool {
	return p.Spec.Adoption != nil && p.Spec.Adoption.Policy == v1alpha1.AdoptionAdopt
}

// deleteAdopted says whether deletion also removes what was adopted.
func deleteAdopted(p *v1alpha1.TwitterPipeline) bool {
	return adoptionAllowed(p) && p.Spec.Adoption.DeleteAdopted
}

// adoptionHint tells the user how to let the pipeline take a part over.
func adoptionHint(p *v1alpha1.TwitterPipeline) string {
	return fmt.Sprintf("to use it, set spec.adoption.policy: Adopt (kubectl patch twitterpipeline %s -n %s --type merge -p '{\"spec\":{\"adoption\":{\"policy\":\"Adopt\"}}}'); "+
		"or choose another name", p.Name, p.Namespace)
}

// integrationCredentials are the pipeline's AWS credentials for the
// collection: access keys from the Secret, or the role ARN. With neither,
// the server reads the stream with its own identity.
func integrationCredentials(s *pass) rockset.AWSCredentials {
	switch {
	case s.awsCreds != nil:
		return rockset.AWSCredentials{AccessKeyID: s.awsCreds.AccessKeyID, SecretAccessKey: s.awsCreds.SecretAccessKey}
	default:
		return rockset.AWSCredentials{RoleARN: s.p.Spec.Stream.RoleARN}
	}
}

// reconcileIntegration makes sure the pipeline's Kinesis integration exists.
// One the pipeline did not create (no description marker) is used only when
// adoption is allowed; integrations cannot be updated, so it is used as it is.
func (r *Reconciler) reconcileIntegration(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	name := names.Integration(p)
	if s.streamBlocked {
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonWaitingForStream,
			fmt.Sprintf("the integration and the collection wait until stream %s is this pipeline's to read", s.streamName))
		return steps.Done() // reconcileStream has said why
	}
	in, err := s.rockset.GetIntegration(ctx, name)
	if err == nil {
		if in.Description != description(p) && !adoptionAllowed(p) {
			msg := fmt.Sprintf("Rockset integration %s exists and was not created by this pipeline; %s", name, adoptionHint(p))
			s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonAdoptionRequired, msg)
			return steps.Stalled(ReasonAdoptionRequired, msg, r.opts.ResyncPeriod)
		}
		if in.Description != description(p) && p.Status.Integration == nil {
			r.event(p, status.EventNormal, EventIntegrationAdopted, "Adopt", "adopted existing Rockset integration "+name)
		}
		s.integrationOK = true
		return r.rotateIntegrationCredentials(ctx, s, name)
	}
	if !rockset.IsNotFound(err) {
		return r.rocksetFailed(s, "read integration "+name, err)
	}
	_, err = s.rockset.CreateKinesisIntegration(ctx, name, description(p), integrationCredentials(s))
	if err != nil && !rockset.IsConflict(err) {
		what := "create integration " + name
		if s.awsCreds == nil && p.Spec.Stream.RoleARN == "" {
			// The server may insist on credentials of its own for the stream.
			what += " (no spec.stream.credentialsSecretRef or spec.stream.roleARN given)"
		}
		return r.rocksetFailed(s, what, err)
	}
	if err != nil {
		return steps.Wait(waitCollection) // created meanwhile by someone: read it again
	}
	r.event(p, status.EventNormal, EventIntegrationCreated, "Create", fmt.Sprintf("created Rockset Kinesis integration %s", name))
	s.integrationOK = true
	s.integrationCreds = credentialsChecksum(s)
	return steps.Done()
}

// credentialsChecksum fingerprints the pipeline's AWS access keys, salted
// with the pipeline's UID so equal keys in two pipelines look unrelated; ""
// when the integration uses a role or the server's own identity.
func credentialsChecksum(s *pass) string {
	if s.awsCreds == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(string(s.p.UID) + "\x00" + s.awsCreds.AccessKeyID + "\x00" + s.awsCreds.SecretAccessKey))
	return hex.EncodeToString(sum[:])[:16]
}

// rotateIntegrationCredentials passes AWS keys rotated in the pipeline's
// Secret on to the existing integration (Rockset's updateIntegration), so
// the collection keeps its source, its checkpoint and its documents. An
// integration whose keys were never recorded (made by an older operator)
// is taken to hold the current ones.
func (r *Reconciler) rotateIntegrationCredentials(ctx context.Context, s *pass, name string) steps.Outcome {
	want := credentialsChecksum(s)
	recorded := ""
	if st := s.p.Status.Integration; st != nil {
		recorded = st.CredentialsChecksum
	}
	if want == "" || recorded == "" || recorded == want {
		s.integrationCreds = want
		return steps.Done()
	}
	s.integrationCreds = recorded
	err := s.rockset.UpdateKinesisIntegration(ctx, name, integrationCredentials(s))
	switch k := rockset.KindOf(err); {
	case err == nil:
		s.integrationCreds = want
		r.event(s.p, status.EventNormal, EventIntegrationRotated, "Update",
			fmt.Sprintf("gave Rockset integration %s the rotated AWS keys from Secret %s", name, s.p.Spec.Stream.CredentialsSecretRef.Name))
		return steps.Done()
	case k == rockset.KindThrottled || k == rockset.KindUnreachable:
		return r.rocksetFailed(s, "update integration "+name, err)
	default:
		msg := fmt.Sprintf("the AWS keys in Secret %s changed but Rockset integration %s could not take them (%s); "+
			"the collection keeps reading with the old keys", s.p.Spec.Stream.CredentialsSecretRef.Name, name, rockset.Message(err))
		return steps.Stalled(ReasonIntegrationCredentialsStale, msg, r.opts.ResyncPeriod)
	}
}

// credentialsHint says where the credentials AWS refused come from.
func credentialsHint(p *v1alpha1.TwitterPipeline) string {
	switch {
	case p.Spec.Stream.CredentialsSecretRef != nil:
		return fmt.Sprintf("AWS refused the integration's keys: put valid ones in Secret %s (spec.stream.credentialsSecretRef); the integration gets them on its own",
			p.Spec.Stream.CredentialsSecretRef.Name)
	case p.Spec.Stream.RoleARN != "":
		return fmt.Sprintf("AWS refused the integration's role %s: check that the analytics server may assume it and that it may read the stream", p.Spec.Stream.RoleARN)
	default:
		return "AWS refused the analytics server's own identity: grant it kinesis:ListShards, GetShardIterator, GetRecords and DescribeStreamSummary on the stream, or set spec.stream.credentialsSecretRef"
	}
}

// Collection settings that follow from the canonical tweet document.
const (
	eventTimeField    = "timestamp_ms"
	offsetResetPolicy = "EARLIEST"
)

// desiredCollection is the pipeline's collection: its stream, JSON, read
// from the earliest record so nothing produced before the collection existed
// is lost; timestamps from the canonical document.
func desiredCollection(p *v1alpha1.TwitterPipeline, streamName, region string) rockset.CollectionDesired {
	spec := rockset.CollectionSpec{
		Description:       description(p),
		Integration:       names.Integration(p),
		Stream:            streamName,
		Region:            region,
		OffsetResetPolicy: offsetResetPolicy,
		EventTimeField:    eventTimeField,
		Transform:         p.Spec.Rockset.IngestTransformation,
	}
	if ret := p.Spec.Rockset.Retention; ret != nil {
		spec.RetentionSecs = int64(ret.Duration / time.Second)
	}
	return rockset.CollectionDesired{Spec: spec, AdoptedDescription: adoptedDescription(p), Adopt: adoptionAllowed(p)}
}

// reconcileCollection creates the collection once the stream exists, keeps
// its ingest transformation as the spec says, and reads its state and its
// source's: a source that cannot ingest makes CollectionReady False.
func (r *Reconciler) reconcileCollection(ctx context.Context, s *pass) steps.Outcome {
	if !s.integrationOK {
		return steps.Done() // reconcileIntegration has said why
	}
	p := s.p
	ws, name := names.Workspace(p), names.Collection(p)
	what := fmt.Sprintf("collection %s.%s", ws, name)
	want := desiredCollection(p, s.streamName, s.region)

	var observed *rockset.Collection
	c, err := s.rockset.GetCollection(ctx, ws, name)
	switch {
	case err == nil:
		observed = &c
	case !rockset.IsNotFound(err):
		return r.rocksetFailed(s, "read "+what, err)
	}

	a := rockset.NextCollectionAction(want, observed)
	switch a.Kind {
	case rockset.CollectionCreate:
		if s.stream == nil || s.stream.Status == "DELETING" {
			s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonWaitingForStream,
				fmt.Sprintf("%s will be created once stream %s exists", what, s.streamName))
			return steps.Wait(waitStream)
		}
		if ws != names.DefaultWorkspace {
			created, err := s.rockset.EnsureWorkspace(ctx, ws, "created by streamdash")
			if err != nil {
				return r.rocksetFailed(s, "create workspace "+ws, err)
			}
			if created {
				r.event(p, status.EventNormal, EventWorkspaceCreated, "Create", fmt.Sprintf("created Rockset workspace %s", ws))
			}
		}
		if _, err := s.rockset.CreateCollection(ctx, ws, name, want.Spec); err != nil && !rockset.IsConflict(err) {
			return r.rocksetFailed(s, "create "+what, err)
		}
		r.event(p, status.EventNormal, EventCollectionCreated, "Create",
			fmt.Sprintf("created %s reading stream %s from the earliest record", what, s.streamName))
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionCreating, fmt.Sprintf("creating %s", what))
		return steps.Wait(waitCollection)
	case rockset.CollectionConflict:
		msg := fmt.Sprintf("%s already exists and %s; choose another spec.rockset.collection", what, a.Message)
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionConflict, msg)
		return steps.Stalled(ReasonCollectionConflict, msg, r.opts.ResyncPeriod)
	case rockset.CollectionAdoptionRequired:
		msg := fmt.Sprintf("%s exists and was not created by this pipeline; %s", what, adoptionHint(p))
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonAdoptionRequired, msg)
		return steps.Stalled(ReasonAdoptionRequired, msg, r.opts.ResyncPeriod)
	case rockset.CollectionUpdate:
		updated, err := s.rockset.UpdateCollection(ctx, ws, name, a.Update)
		if err != nil {
			return r.rocksetFailed(s, "update "+what, err)
		}
		if a.Adopting {
			r.event(p, status.EventNormal, EventCollectionAdopted, "Adopt", "adopted existing "+what)
		} else {
			r.event(p, status.EventNormal, EventCollectionUpdated, "Update", "updated the ingest transformation of "+what)
		}
		if updated.Name != "" {
			c = updated
		}
		// Read the new state on the next pass.
		s.collection = &c
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionPending, fmt.Sprintf("updating %s", what))
		return steps.Wait(waitCollection)
	}
	s.collection = &c
	r.targets.set(client.ObjectKeyFromObject(p), checkTarget{uid: p.UID, api: s.rockset, ws: ws, name: name, want: want})
	switch a.Kind {
	case rockset.CollectionSourceFailed:
		// Ingest has stopped: not Ready. The ingest check keeps reading the
		// collection and brings a full pass as soon as it recovers.
		msg := fmt.Sprintf("%s is not ingesting: %s; ", what, a.Message)
		if a.CredentialsRefused {
			msg += credentialsHint(p) + "; "
		}
		msg += "documents wait in the stream (up to its retention) and ingest resumes on its own once the cause is fixed"
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonIngestFailed, msg)
		return steps.Done()
	case rockset.CollectionWait:
		s.setPart(v1alpha1.ConditionCollectionReady, false, ReasonCollectionPending, fmt.Sprintf("%s: %s", what, a.Message))
		return steps.Wait(waitCollection)
	}
	msg := fmt.Sprintf("%s is READY and its source is ingesting", what)
	if want.Spec.RetentionSecs > 0 && c.RetentionSecs != want.Spec.RetentionSecs {
		msg += fmt.Sprintf("; its retention (%ds) differs from spec.rockset.retention and cannot change in place", c.RetentionSecs)
	}
	s.setPart(v1alpha1.ConditionCollectionReady, true, ReasonCollectionReady, msg)
	// Documents arriving from now on reach status through the ingest check
	// (ingestcheck.go), not through full passes.
	return steps.Done()
}
