package twitterpipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/secrets"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/kinesis"
	"github.com/streamdash/streamdash/internal/rockset"
)

// pass is one reconcile of one pipeline: what it resolved before the steps
// ran and what the steps observed, for the status computation.
type pass struct {
	p *v1alpha1.TwitterPipeline

	streamName string
	region     string
	awsCreds   *kinesis.Credentials
	conn       rocksetconn.Connection
	streams    kinesis.Streams
	rockset    rockset.API

	// inputs fingerprints the Secret and ConfigMap values the producer reads.
	inputs inputsChecksum

	// Observations.
	stream *kinesis.Stream
	// streamBlocked: the stream exists but is not the pipeline's to use
	// (another pipeline's, or not adopted): nothing may read it.
	streamBlocked bool
	integrationOK bool
	// integrationCreds is the credentials checksum the integration holds.
	integrationCreds string
	collection       *rockset.Collection
	deployment       *appsv1.Deployment
	// postsWritten is the producer's count of posts written, when it could be read.
	postsWritten *int64

	// deleting says what deletion is waiting for; finalized that the
	// finalizer was removed and there is no status left to write.
	deleting  string
	finalized bool

	// parts holds the StreamReady, CollectionReady and ProducerReady verdicts
	// of the steps that ran.
	parts map[string]part
}

// part is one part condition as a step decided it.
type part struct {
	ready           bool
	reason, message string
}

func (s *pass) setPart(condType string, ready bool, reason, message string) {
	if s.parts == nil {
		s.parts = map[string]part{}
	}
	s.parts[condType] = part{ready: ready, reason: reason, message: message}
}

// inputsChecksum fingerprints values the producer reads from Secrets and
// ConfigMaps, without keeping them: only a hash of each value.
type inputsChecksum struct{ parts []string }

func (c *inputsChecksum) add(kind, name, key string, value []byte) {
	sum := sha256.Sum256(value)
	c.parts = append(c.parts, kind+"/"+name+"/"+key+"="+hex.EncodeToString(sum[:]))
}

// sum is the checksum of everything added, "" when nothing was.
func (c *inputsChecksum) sum() string {
	if len(c.parts) == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.Join(c.parts, "\n")))
	return hex.EncodeToString(sum[:])[:16]
}

// AWS credential keys in spec.stream.credentialsSecretRef.
const (
	awsAccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	awsSecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
)

// validate checks what the CRD's schema cannot: the combinations that need
// the operator's defaults. It returns a message for the Stalled condition.
func validate(p *v1alpha1.TwitterPipeline, defaultRegion string) error {
	src := p.Spec.Source
	n := 0
	for _, set := range []bool{src.X != nil, src.Bluesky != nil, src.Replay != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("spec.source: set exactly one of x, bluesky or replay")
	}
	if r := src.Replay; r != nil {
		m := 0
		for _, set := range []bool{r.ConfigMapRef != nil, r.File != "", r.Synthetic != nil} {
			if set {
				m++
			}
		}
		if m != 1 {
			return errors.New("spec.source.replay: set exactly one of configMapRef, file or synthetic")
		}
	}
	if x := src.X; x != nil && len(x.Rules) == 0 {
		return errors.New("spec.source.x.rules: at least one rule is needed")
	}
	if h := p.Spec.Stream.RetentionHours; h != 0 && (h < 24 || h > 8760) {
		return fmt.Errorf("spec.stream.retentionHours: %d is outside 24..8760", h)
	}
	if p.Spec.Stream.ShardCount < 0 {
		return fmt.Errorf("spec.stream.shardCount: %d is negative", p.Spec.Stream.ShardCount)
	}
	if p.Spec.Stream.Region == "" && defaultRegion == "" {
		return errors.New("spec.stream.region is empty and the operator has no AWS region: set one of them")
	}
	if r := p.Spec.Rockset.Retention; r != nil && r.Duration.Seconds() < 3600 {
		return fmt.Errorf("spec.rockset.retention: %s is shorter than 1h", r.Duration)
	}
	if t := p.Spec.Rockset.IngestTransformation; t != "" && !strings.Contains(t, "_input") {
		return errors.New("spec.rockset.ingestTransformation must select FROM _input")
	}
	return nil
}

// desiredShards is spec.stream.shardCount with the API's default of 1.
func desiredShards(p *v1alpha1.TwitterPipeline) int32 {
	if p.Spec.Stream.ShardCount > 0 {
		return p.Spec.Stream.ShardCount
	}
	return 1
}

func (r *Reconciler) streamRegion(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Stream.Region != "" {
		return p.Spec.Stream.Region
	}
	return r.opts.AWSRegion
}

// missingMessage explains a missing Secret or ConfigMap without any value.
func missingMessage(what string, err error) string {
	return fmt.Sprintf("%s: %v; the pipeline continues as soon as it exists", what, err)
}

// resolveConnections reads the Secrets that reach Rockset and AWS and builds
// the clients. A missing Secret stalls the pipeline until it appears (the
// controller watches the Secrets pipelines reference).
func (r *Reconciler) resolveConnections(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	s.streamName = names.Stream(p)
	s.region = r.streamRegion(p)

	conn, err := rocksetconn.Resolve(ctx, r.uncached, p, r.opts.Rockset)
	switch {
	case secrets.IsMissing(err):
		return steps.Stalled(ReasonMissingSecret, missingMessage("Rockset API key", err), 0)
	case errors.Is(err, rocksetconn.ErrNotConfigured):
		return steps.Stalled(ReasonInvalidSpec, err.Error(), 0)
	case err != nil:
		return steps.Retry(err)
	}
	s.conn = conn

	if ref := p.Spec.Stream.CredentialsSecretRef; ref != nil {
		key := types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}
		id, err := secrets.ReadKey(ctx, r.uncached, key, awsAccessKeyIDKey)
		if err == nil {
			var secret string
			secret, err = secrets.ReadKey(ctx, r.uncached, key, awsSecretAccessKeyKey)
			s.awsCreds = &kinesis.Credentials{AccessKeyID: strings.TrimSpace(id), SecretAccessKey: strings.TrimSpace(secret)}
			s.inputs.add("Secret", key.Name, awsAccessKeyIDKey, []byte(id))
			s.inputs.add("Secret", key.Name, awsSecretAccessKeyKey, []byte(secret))
		}
		if secrets.IsMissing(err) {
			return steps.Stalled(ReasonMissingSecret, missingMessage("AWS credentials (spec.stream.credentialsSecretRef)", err), 0)
		}
		if err != nil {
			return steps.Retry(err)
		}
	}
	s.streams = r.opts.NewStreams(s.region, s.awsCreds)
	rc, err := r.opts.NewRockset(conn)
	if err != nil {
		return steps.Stalled(ReasonInvalidSpec, fmt.Sprintf("Rockset API server %q: %v", conn.APIServer, err), 0)
	}
	s.rockset = rc
	return steps.Done()
}

// checkSourceReferences makes sure the source's Secret or ConfigMap exists
// before the producer is started with references to it.
func (r *Reconciler) checkSourceReferences(ctx context.Context, s *pass) steps.Outcome {
	p := s.p
	if x := p.Spec.Source.X; x != nil {
		key := types.NamespacedName{Namespace: p.Namespace, Name: x.BearerTokenSecretRef.Name}
		token, err := secrets.ReadKey(ctx, r.uncached, key, x.BearerTokenSecretRef.Key)
		if secrets.IsMissing(err) {
			return steps.Stalled(ReasonMissingSecret, missingMessage("X bearer token (spec.source.x.bearerTokenSecretRef)", err), 0)
		} else if err != nil {
			return steps.Retry(err)
		}
		s.inputs.add("Secret", key.Name, x.BearerTokenSecretRef.Key, []byte(token))
	}
	if rp := p.Spec.Source.Replay; rp != nil && rp.ConfigMapRef != nil {
		var cm corev1.ConfigMap
		key := types.NamespacedName{Namespace: p.Namespace, Name: rp.ConfigMapRef.Name}
		err := r.uncached.Get(ctx, key, &cm)
		switch {
		case apierrors.IsNotFound(err):
			return steps.Stalled(ReasonMissingConfigMap, fmt.Sprintf("replay ConfigMap %s not found; the pipeline continues as soon as it exists", key), 0)
		case err != nil:
			return steps.Retry(err)
		}
		text, inData := cm.Data[rp.ConfigMapRef.Key]
		bin, inBinary := cm.BinaryData[rp.ConfigMapRef.Key]
		if !inData && !inBinary {
			return steps.Stalled(ReasonMissingConfigMap, fmt.Sprintf("replay ConfigMap %s has no key %q", key, rp.ConfigMapRef.Key), 0)
		}
		s.inputs.add("ConfigMap", key.Name, rp.ConfigMapRef.Key, append([]byte(text), bin...))
	}
	return steps.Done()
}
