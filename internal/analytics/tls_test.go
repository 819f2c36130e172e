package analytics_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	rs "github.com/rockset/rockset-go-client"

	"github.com/streamdash/streamdash/internal/analytics"
)

// TestTLS serves HTTPS with a certificate from files; the stock client
// (which only speaks HTTPS) reaches it when it trusts the CA.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "analytics"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, analytics.Config{TLSCert: certFile, TLSKey: keyFile})
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	host := ts.url[len("http://"):]
	// The stock constructor, given the URL: internal/rockset.NewClient hands
	// it a bare "ip:port", which rockset-go-client's url.Parse refuses.
	rc, err := rs.NewClient(rs.WithAPIServer("https://"+host), rs.WithAPIKey(testKey), rs.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rc.Ping(ctx); err != nil {
		t.Fatalf("ping over TLS: %v", err)
	}
	if _, err := rc.GetWorkspace(ctx, "commons"); err != nil {
		t.Fatalf("workspace over TLS: %v", err)
	}
	if _, err := http.Get("http://" + host + "/healthz"); err == nil {
		// Plain HTTP to a TLS listener gets a 400 from net/http, not service.
		resp, _ := http.Get("http://" + host + "/v1/orgs/self")
		if resp != nil && resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on the TLS listener")
		}
	}
}
