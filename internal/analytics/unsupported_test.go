package analytics_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

// TestUnsupportedAnswer501: a known Rockset route outside this server's
// scope (virtual instances, users, non-Kinesis sources, ...) answers 501 with a message that names what is not supported, never 404.
func TestUnsupportedAnswer501(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	tests := []struct {
		method, path, body string
		want               string // in the message
	}{
		{"GET", "/v1/orgs/self/virtualinstances", "", "virtual instances"},
		{"POST", "/v1/orgs/self/virtualinstances/rrn:vi:x/queries", `{}`, "virtual instances"},
		{"GET", "/v1/orgs/self/users", "", "users"},
		{"GET", "/v1/orgs/self/users/self", "", "users"},
		{"DELETE", "/v1/orgs/self/users/someone@example.com", "", "users"},
		{"POST", "/v1/orgs/self/ws/commons/scheduled_lambdas", `{"apikey":"k","cron_string":"0 0 0 ? * * *","ql_name":"q","tag":"latest","webhook_url":"https://example.com/hook"}`, "webhooks"},
		{"POST", "/v1/orgs/self/integrations", `{"name":"s","s3":{"aws_role":{"aws_role_arn":"arn:aws:iam::1:role/r"}}}`, "only Kinesis integrations"},
		{"POST", "/v1/orgs/self/ws/commons/collections", `{"name":"c","sources":[{"s3":{"bucket":"b"}}]}`, "only Kinesis sources"},
		{"POST", "/v1/orgs/self/queries", `{"sql":{"query":"script {{{ export function f(x) { return x; } }}} select _script.f(1)"}}`, "JavaScript UDFs"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, b := doAuthed(t, tc.method, ts.url+tc.path, []byte(tc.body))
			if code != http.StatusNotImplemented || !strings.Contains(string(b), tc.want) {
				t.Errorf("%d: %s", code, b)
			}
		})
	}
	// The stock client gets an error it can read, and does not retry a 501.
	_, err := ts.rc.CreateS3Integration(context.Background(), "s3", option.AWSRole("arn:aws:iam::1:role/r"))
	if err == nil || !strings.Contains(err.Error(), "only Kinesis") {
		t.Fatalf("client error: %v", err)
	}
}
