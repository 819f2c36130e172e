package localcluster

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/streamdash/streamdash/test/node"
)

// metadataRole is the instance profile's role name.
const metadataRole = "streamdash-node"

// startMetadata serves the part of the EC2 instance metadata service that
// the AWS SDK's default credential chain reads (IMDSv2: a session token,
// then the instance profile's credentials) at the node's metadata address.
// Pods get credentials the way they would on an EC2 node, so the manager,
// the analytics server and the producers need no key in their manifests;
// the Kinesis emulator accepts any key.
func (c *Cluster) startMetadata() error {
	l, err := net.Listen("tcp", net.JoinHostPort(node.MetadataIP, "80"))
	if err != nil {
		return err
	}
	c.metadata = &http.Server{Handler: metadataHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.metadata.Serve(l) }()
	return nil
}

func metadataHandler() http.Handler {
	token := randomHex(16)
	authorized := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != token {
			http.Error(w, "", http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
		if ttl == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
		fmt.Fprint(w, token)
	})
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/{role...}", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		switch strings.TrimSuffix(r.PathValue("role"), "/") {
		case "":
			fmt.Fprintln(w, metadataRole)
		case metadataRole:
			now := time.Now().UTC()
			_ = json.NewEncoder(w).Encode(map[string]string{
				"Code":            "Success",
				"LastUpdated":     now.Format(time.RFC3339),
				"Type":            "AWS-HMAC",
				"AccessKeyId":     "ASIASTREAMDASHNODE",
				"SecretAccessKey": randomHex(20),
				"Token":           randomHex(32),
				"Expiration":      now.Add(6 * time.Hour).Format(time.RFC3339),
			})
		default:
			http.NotFound(w, r)
		}
	})
	return mux
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
