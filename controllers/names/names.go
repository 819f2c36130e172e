// Package names says what every object a TwitterPipeline owns is called,
// in Kinesis, in Rockset and in Kubernetes: one place, so that the
// TwitterPipeline and LiveDashboard controllers always agree, and every name
// fits its system's alphabet and length.
package names

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

// DefaultWorkspace is Rockset's always-present workspace.
const DefaultWorkspace = "commons"

// Length limits of the names Kinesis, Rockset and Kubernetes accept.
const (
	maxStreamName      = 128
	maxRocksetName     = 100
	maxSecretName      = 253
	podSecretSuffix    = "-rockset-apikey"
	generatedPrefix    = "streamdash-"
	hashSuffixLength   = 8
	hashSuffixWithDash = hashSuffixLength + 1
)

// PodSecret is the name of the owned copy of the operator's API key in the
// pipeline's namespace: <pipeline>-rockset-apikey.
func PodSecret(p *v1alpha1.TwitterPipeline) string {
	return truncateWithHash(p.Name, maxSecretName-len(podSecretSuffix)) + podSecretSuffix
}

// DashboardKeyPrefix marks the Rockset API keys and roles the operator makes
// for LiveDashboards: it deletes only names that carry it.
const DashboardKeyPrefix = "streamdash-dashboard-"

// DashboardKey names a LiveDashboard's Rockset API key and its role (the
// same name for both): streamdash-dashboard-<namespace>-<name>-<uid hash>,
// in Rockset's alphabet and at most 100 characters. The UID part keeps a
// dashboard re-created under the same name from meeting its predecessor's key.
func DashboardKey(d *v1alpha1.LiveDashboard) string {
	suffix := "-" + shortHash(string(d.UID))
	return truncateWithHash(rocksetName(DashboardKeyPrefix+d.Namespace+"-"+d.Name), maxRocksetName-len(suffix)) + suffix
}

// Workspace is the pipeline's workspace (default commons).
func Workspace(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Rockset.Workspace != "" {
		return p.Spec.Rockset.Workspace
	}
	return DefaultWorkspace
}

// Collection is the pipeline's collection: spec.rockset.collection, else the
// pipeline's name. A Kubernetes name may hold dots and be longer than Rockset
// allows, so those become '-' and a long name is shortened with a hash.
func Collection(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Rockset.Collection != "" {
		return p.Spec.Rockset.Collection
	}
	return rocksetName(p.Name)
}

// Stream is the pipeline's Kinesis stream: spec.stream.name, else
// streamdash-<namespace>-<name>, shortened with a hash suffix to 128 characters.
func Stream(p *v1alpha1.TwitterPipeline) string {
	if p.Spec.Stream.Name != "" {
		return p.Spec.Stream.Name
	}
	return truncateWithHash(generatedPrefix+p.Namespace+"-"+p.Name, maxStreamName)
}

// Integration is the pipeline's Rockset Kinesis integration:
// streamdash-<namespace>-<name> in Rockset's name alphabet, at most 100 characters.
func Integration(p *v1alpha1.TwitterPipeline) string {
	return rocksetName(generatedPrefix + p.Namespace + "-" + p.Name)
}

// rocksetName maps a Kubernetes name onto [[:alnum:]][[:alnum:]_-]* of at most 100.
func rocksetName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if out != s {
		// Two names differing only in a replaced character must not collide.
		return truncateWithHash(out, maxRocksetName-hashSuffixWithDash) + "-" + shortHash(s)
	}
	return truncateWithHash(out, maxRocksetName)
}

// truncateWithHash keeps s when it fits in n, else cuts it and appends a hash
// of the whole, so distinct long names stay distinct.
func truncateWithHash(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head := strings.TrimRight(s[:n-hashSuffixWithDash], "-._")
	return head + "-" + shortHash(s)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashSuffixLength]
}
