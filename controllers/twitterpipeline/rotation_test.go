package twitterpipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/kinesis"
	"github.com/streamdash/streamdash/internal/rockset"
)

// updateRecorder is a rockset.API that records UpdateKinesisIntegration
// calls and answers them with err; other calls are not expected here.
type updateRecorder struct {
	rockset.API
	calls []rockset.AWSCredentials
	err   error
}

func (u *updateRecorder) UpdateKinesisIntegration(_ context.Context, _ string, creds rockset.AWSCredentials) error {
	u.calls = append(u.calls, creds)
	return u.err
}

func TestRotateIntegrationCredentials(t *testing.T) {
	p := newPipeline(func(p *v1alpha1.TwitterPipeline) {
		p.UID = "uid-1"
		p.Spec.Stream.CredentialsSecretRef = &v1alpha1.LocalObjectReference{Name: "aws"}
	})
	keys := func(id, secret string) *kinesis.Credentials {
		return &kinesis.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	}
	old := credentialsChecksum(&pass{p: p, awsCreds: keys("AKIAOLD", "old-secret")})
	rotated := credentialsChecksum(&pass{p: p, awsCreds: keys("AKIANEW", "new-secret")})
	status := func(code int) error {
		return rockerr.Error{ErrorModel: &openapi.ErrorModel{Message: openapi.PtrString("no")}, StatusCode: code}
	}
	tests := []struct {
		name      string
		recorded  string
		creds     *kinesis.Credentials
		updateErr error
		// wantCalls is how many updates are sent; wantRecorded the checksum status keeps.
		wantCalls    int
		wantIntent   steps.Intent
		wantRecorded string
	}{
		{name: "unchanged keys: nothing sent", recorded: old, creds: keys("AKIAOLD", "old-secret"), wantIntent: steps.IntentDone, wantRecorded: old},
		{name: "never recorded: taken as current", recorded: "", creds: keys("AKIAOLD", "old-secret"), wantIntent: steps.IntentDone, wantRecorded: old},
		{name: "role, no keys: nothing to rotate", recorded: old, creds: nil, wantIntent: steps.IntentDone, wantRecorded: ""},
		{name: "rotated: the integration gets the new keys", recorded: old, creds: keys("AKIANEW", "new-secret"),
			wantCalls: 1, wantIntent: steps.IntentDone, wantRecorded: rotated},
		{name: "server cannot update: stalls, keeps the old record", recorded: old, creds: keys("AKIANEW", "new-secret"),
			updateErr: status(405), wantCalls: 1, wantIntent: steps.IntentStalled, wantRecorded: old},
		{name: "server busy: retries", recorded: old, creds: keys("AKIANEW", "new-secret"),
			updateErr: status(503), wantCalls: 1, wantIntent: steps.IntentRetry, wantRecorded: old},
		{name: "not a client error: stalls", recorded: old, creds: keys("AKIANEW", "new-secret"),
			updateErr: errors.New("boom"), wantCalls: 1, wantIntent: steps.IntentStalled, wantRecorded: old},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pp := p.DeepCopy()
			pp.Status.Integration = &v1alpha1.IntegrationStatus{Name: "i", CredentialsChecksum: tc.recorded}
			api := &updateRecorder{err: tc.updateErr}
			s := &pass{p: pp, awsCreds: tc.creds, rockset: api}
			o := testReconciler().rotateIntegrationCredentials(context.Background(), s, "i")
			if o.Intent != tc.wantIntent || len(api.calls) != tc.wantCalls || s.integrationCreds != tc.wantRecorded {
				t.Errorf("intent %s, %d updates, recorded %q; want %s, %d, %q (%+v)", o.Intent, len(api.calls), s.integrationCreds,
					tc.wantIntent, tc.wantCalls, tc.wantRecorded, o)
			}
			if tc.wantCalls == 1 && api.calls[0].SecretAccessKey != "new-secret" {
				t.Errorf("update sent %+v, want the new keys", api.calls[0])
			}
			if o.Intent == steps.IntentStalled && (o.Reason != ReasonIntegrationCredentialsStale || strings.Contains(o.Message, "new-secret")) {
				t.Errorf("stall %+v: want reason %s and no secret", o, ReasonIntegrationCredentialsStale)
			}
		})
	}
	if old == rotated || len(old) != 16 {
		t.Errorf("checksums %q and %q", old, rotated)
	}
}
