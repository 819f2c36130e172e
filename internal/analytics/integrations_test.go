package analytics_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
)

// TestIntegrationKeyRotation: Rockset's updateIntegration (PUT
// /integrations/{name}) gives a Kinesis integration new keys. Kinesis is
// reached through a proxy that checks keys as AWS does (the emulator checks
// none). Once the old key is revoked the source reports ERROR naming the
// refusal; after the update the running reader resumes from its checkpoints
// with the new key: every document arrives exactly once. The new secret is
// sealed in the metadata file and, after a restart, still reads. Refused
// updates change nothing.
func TestIntegrationKeyRotation(t *testing.T) {
	e := emulator(t)
	keys := e.StartKeyChecker(t)
	keys.Allow("AKIAROTATEOLD", "old-secret-0000")
	ctx := context.Background()
	dataDir := t.TempDir()
	cfg := analytics.Config{DataDir: dataDir, KinesisEndpoint: keys.Endpoint}
	srv := startServer(t, cfg)
	rc := srv.rc
	const stream, coll, integ = "rotated", "rotated", "rotating"
	createStream(t, e, stream, 2)
	if _, err := rc.CreateKinesisIntegration(ctx, integ, option.AWSKeys("AKIAROTATEOLD", "old-secret-0000")); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateCollection(ctx, "commons", coll, kinesisSource(integ, stream, e.Region, "EARLIEST")); err != nil {
		t.Fatal(err)
	}
	kc := e.Client() // the producer's side, straight to the emulator
	putRecords(t, kc, stream, docs("before", 100))
	waitDocs(t, rc, "commons", coll, 100, 30*time.Second)

	keys.Revoke("AKIAROTATEOLD")
	putRecords(t, kc, stream, docs("revoked", 100))
	waitSourceState(t, rc, coll, func(state string) bool { return state == "ERROR" })
	c, err := rc.GetCollection(ctx, "commons", coll)
	if err != nil {
		t.Fatal(err)
	}
	if msg := c.Sources[0].Status.GetMessage(); !strings.Contains(msg, "UnrecognizedClientException") || c.GetStatus() == "READY" {
		t.Errorf("with a revoked key: collection %s, source message %q; want not READY and the refusal", c.GetStatus(), msg)
	}
	if n := docCount(t, rc, "commons", coll); n != 100 {
		t.Fatalf("%d documents with a revoked key, want the 100 read before", n)
	}

	keys.Allow("AKIAROTATENEW", "new-secret-1111")
	seam, err := rockset.New(srv.url, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	if err := seam.UpdateKinesisIntegration(ctx, integ, rockset.AWSCredentials{AccessKeyID: "AKIAROTATENEW", SecretAccessKey: "new-secret-1111"}); err != nil {
		t.Fatalf("update integration: %v", err)
	}
	waitDocs(t, rc, "commons", coll, 200, 30*time.Second)
	t.Logf("documents held back by the revoked key arrived %s after the update", time.Since(rotated).Round(time.Millisecond))
	waitSourceState(t, rc, coll, func(state string) bool { return state == "WATCHING" || state == "PROCESSING" })
	putRecords(t, kc, stream, docs("after", 100))
	waitDocs(t, rc, "commons", coll, 300, 30*time.Second)

	// The integration shows the new key ID and never a secret; the file
	// holds the secret sealed.
	status, body := doAuthed(t, http.MethodGet, srv.url+"/v1/orgs/self/integrations/"+integ, nil)
	if status != http.StatusOK || !bytes.Contains(body, []byte("AKIAROTATENEW")) || bytes.Contains(body, []byte("secret-")) {
		t.Errorf("GET integration: %d %s", status, body)
	}
	metaFile, err := os.ReadFile(filepath.Join(dataDir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(metaFile, []byte("new-secret-1111")) || bytes.Contains(metaFile, []byte("old-secret-0000")) ||
		!bytes.Contains(metaFile, []byte("secret_access_key_sealed")) {
		t.Errorf("meta.json does not hold the rotated secret sealed:\n%s", metaFile)
	}

	// Refused updates, each with a clear error, change nothing.
	path := srv.url + "/v1/orgs/self/integrations/"
	for _, tc := range []struct {
		name, integ, body string
		wantStatus        int
		wantText          string
	}{
		{"unknown integration", "missing", `{"kinesis":{"aws_access_key":{"aws_access_key_id":"AKIAX","aws_secret_access_key":"x"}}}`, http.StatusNotFound, `integration \"missing\" not found`},
		{"key without secret", integ, `{"kinesis":{"aws_access_key":{"aws_access_key_id":"AKIAX"}}}`, http.StatusBadRequest, "aws_secret_access_key"},
		{"role that is not an ARN", integ, `{"kinesis":{"aws_role":{"aws_role_arn":"reader"}}}`, http.StatusBadRequest, "must be an ARN"},
		{"another kind of integration", integ, `{"s3":{"aws_role":{"aws_role_arn":"arn:aws:iam::1:role/r"}}}`, http.StatusNotImplemented, "only Kinesis"},
		{"nothing to change", integ, `{}`, http.StatusBadRequest, "nothing to update"},
		{"not JSON", integ, `{"kinesis":`, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := doAuthed(t, http.MethodPut, path+tc.integ, []byte(tc.body))
			if status != tc.wantStatus || !strings.Contains(string(body), tc.wantText) {
				t.Errorf("PUT %s: %d %s; want %d containing %q", tc.body, status, body, tc.wantStatus, tc.wantText)
			}
		})
	}
	// A description alone keeps the keys.
	status, body = doAuthed(t, http.MethodPut, path+integ, []byte(`{"description":"rotated twice"}`))
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"rotated twice"`)) || !bytes.Contains(body, []byte("AKIAROTATENEW")) {
		t.Errorf("description update: %d %s", status, body)
	}

	// After a restart the sealed new secret still reads.
	srv.stop()
	srv = startServer(t, cfg)
	putRecords(t, kc, stream, docs("restarted", 50))
	waitDocs(t, srv.rc, "commons", coll, 350, 30*time.Second)
	rows := queryRows(t, srv.rc, `SELECT gen, count(*) AS n, count(DISTINCT i) AS distinct_i FROM `+coll+` GROUP BY gen ORDER BY gen`)
	want := []map[string]any{
		{"gen": "after", "n": float64(100), "distinct_i": float64(100)},
		{"gen": "before", "n": float64(100), "distinct_i": float64(100)},
		{"gen": "restarted", "n": float64(50), "distinct_i": float64(50)},
		{"gen": "revoked", "n": float64(100), "distinct_i": float64(100)},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("documents by generation = %v, want %v (none lost, none twice)", rows, want)
	}
	if keys.Rejected("AKIAROTATENEW") != 0 {
		t.Errorf("the new key was refused %d times", keys.Rejected("AKIAROTATENEW"))
	}
}
