package kinesislocal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// KeyChecker is a proxy in front of the emulator that checks AWS
// credentials the way Kinesis does, which the emulator itself never does:
// a request must be signed (Signature Version 4) with an access key the
// checker knows, not revoked, and its secret. Everything else passes to
// the emulator unchanged. It is the one fake a key rotation test needs:
// the real emulator cannot be made to reject a revoked key.
type KeyChecker struct {
	// Endpoint is the proxy's base URL, for BaseEndpoint or AWS_ENDPOINT_URL_KINESIS.
	Endpoint string

	srv *httptest.Server
	mu  sync.Mutex
	// secrets by access key ID; revoked keys are removed.
	secrets  map[string]string
	rejected map[string]int // rejections by access key ID
	// inflight counts accepted requests still at the emulator, by access
	// key ID; done is signalled as each ends, for Revoke to wait on.
	inflight map[string]int
	done     *sync.Cond
}

// StartKeyChecker runs a checker in front of e until t ends.
func (e *Emulator) StartKeyChecker(t testing.TB) *KeyChecker {
	t.Helper()
	target, err := url.Parse(e.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	k := &KeyChecker{secrets: map[string]string{}, rejected: map[string]int{}, inflight: map[string]int{}}
	k.done = sync.NewCond(&k.mu)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a client giving up mid-request is not news
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		id, code, msg := k.check(r, body)
		if code != "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header().Set("X-Amzn-ErrorType", code)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
			return
		}
		defer k.finished(id)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(k.srv.Close)
	k.Endpoint = k.srv.URL
	return k
}

// Allow accepts requests signed with this key pair.
func (k *KeyChecker) Allow(accessKeyID, secretAccessKey string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.secrets[accessKeyID] = secretAccessKey
}

// Revoke refuses the key from now on, as IAM does once a key is deleted.
// It returns once the requests accepted before it have ended: a read that
// passed the check earlier must not return records written after Revoke,
// or a test could not tell what the revoked key was still able to read.
func (k *KeyChecker) Revoke(accessKeyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.secrets, accessKeyID)
	for k.inflight[accessKeyID] > 0 {
		k.done.Wait()
	}
}

func (k *KeyChecker) finished(accessKeyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inflight[accessKeyID]--
	k.done.Broadcast()
}

// Rejected is how many requests signed with accessKeyID were refused.
func (k *KeyChecker) Rejected(accessKeyID string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rejected[accessKeyID]
}

// check returns the Kinesis error code and message for a request Kinesis
// would refuse, "" for one it accepts; an accepted request counts as in
// flight under its access key ID until finished.
func (k *KeyChecker) check(r *http.Request, body []byte) (accessKeyID, code, msg string) {
	auth, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "", "MissingAuthenticationTokenException", "Missing Authentication Token: " + err.Error()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	secret, ok := k.secrets[auth.accessKeyID]
	if !ok {
		k.rejected[auth.accessKeyID]++
		return "", "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if want := auth.signature(r, body, secret); !hmac.Equal([]byte(want), []byte(auth.sig)) {
		k.rejected[auth.accessKeyID]++
		return "", "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."
	}
	k.inflight[auth.accessKeyID]++
	return auth.accessKeyID, "", ""
}

// sigV4 is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." header.
type sigV4 struct {
	accessKeyID, scope string // scope: date/region/service/aws4_request
	date               string
	signedHeaders      []string
	sig                string
}

func parseAuthorization(h string) (sigV4, error) {
	algo, rest, ok := strings.Cut(h, " ")
	if !ok || algo != "AWS4-HMAC-SHA256" {
		return sigV4{}, fmt.Errorf("not a Signature Version 4 request")
	}
	var a sigV4
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			id, scope, ok := strings.Cut(v, "/")
			if !ok {
				return sigV4{}, fmt.Errorf("bad credential scope")
			}
			a.accessKeyID, a.scope = id, scope
			a.date, _, _ = strings.Cut(scope, "/")
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.sig = v
		}
	}
	if a.accessKeyID == "" || a.sig == "" || len(a.signedHeaders) == 0 {
		return sigV4{}, fmt.Errorf("incomplete Authorization header")
	}
	return a, nil
}

// signature computes the request's Signature Version 4 with secret.
func (a sigV4) signature(r *http.Request, body []byte, secret string) string {
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon.WriteString(path + "\n")
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		for _, v := range q[k] {
			qs = append(qs, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	canon.WriteString(strings.Join(qs, "&") + "\n")
	for _, h := range a.signedHeaders {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canon.WriteString("\n" + strings.Join(a.signedHeaders, ";") + "\n")
	payload := sha256.Sum256(body)
	canon.WriteString(hex.EncodeToString(payload[:]))

	creq := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + r.Header.Get("X-Amz-Date") + "\n" + a.scope + "\n" + hex.EncodeToString(creq[:])
	key := []byte("AWS4" + secret)
	for _, part := range strings.Split(a.scope, "/") {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
