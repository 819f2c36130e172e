package localcluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// TestMetadataGivesTheSDKCredentials runs the AWS SDK's own instance-profile
// provider (what the default chain uses on EC2) against the handler.
func TestMetadataGivesTheSDKCredentials(t *testing.T) {
	srv := httptest.NewServer(metadataHandler())
	defer srv.Close()
	provider := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: srv.URL})
	})
	creds, err := provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.SessionToken == "" || !creds.CanExpire {
		t.Errorf("credentials %+v: want a key, a secret, a session token and an expiry", creds)
	}

	// Without the session token (IMDSv1) and with a wrong one, nothing.
	for _, token := range []string{"", "wrong"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/latest/meta-data/iam/security-credentials/"+metadataRole, nil)
		if token != "" {
			req.Header.Set("X-Aws-Ec2-Metadata-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", token, resp.StatusCode)
		}
	}
	// A token request needs its TTL header, as on EC2.
	resp, err := http.Post(srv.URL+"/latest/api/token", "", nil)
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST for a token: %v, %v; want 405 (PUT only)", resp, err)
	}
}
