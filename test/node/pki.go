package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var pkiDir = filepath.Join(Root, "pki")

// identity is one certificate the node's components present.
type identity struct {
	file   string
	cn     string
	orgs   []string
	server bool // serving certificate (with the SANs below) rather than client
	dns    []string
	ips    []string
}

// identities: kube-apiserver's serving certificate, the kubelet's, and a
// client certificate per component (RBAC knows their names).
var identities = []identity{
	{file: "apiserver", cn: "kube-apiserver", server: true,
		dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain, "localhost"},
		ips: []string{"127.0.0.1", IP, "10.96.0.1"}},
	{file: "kubelet-serving", cn: "system:node:" + Name, orgs: []string{"system:nodes"}, server: true,
		dns: []string{Name, "localhost"}, ips: []string{IP, "127.0.0.1"}},
	{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
	{file: "admin", cn: "streamdash-node-admin", orgs: []string{"system:masters"}},
	{file: "controller-manager", cn: "system:kube-controller-manager"},
	{file: "scheduler", cn: "system:kube-scheduler"},
	{file: "kube-proxy", cn: "system:kube-proxy"},
	{file: "kubelet", cn: "system:node:" + Name, orgs: []string{"system:nodes"}},
}

// kubeconfigs are written for these identities.
var kubeconfigs = []string{"admin", "controller-manager", "scheduler", "kube-proxy", "kubelet"}

// writePKI makes a fresh CA, the certificates above, the service-account
// signing key and a kubeconfig per component. ECDSA keeps it fast.
func writePKI() error {
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "streamdash-node-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePEM("ca.crt", "CERTIFICATE", caDER); err != nil {
		return err
	}
	if err := writeKey("ca.key", caKey); err != nil {
		return err
	}
	for i, id := range identities {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{CommonName: id.cn, Organization: id.orgs},
			NotBefore:    now,
			NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if id.server {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
			tmpl.DNSNames = id.dns
			for _, ip := range id.ips {
				tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writePEM(id.file+".crt", "CERTIFICATE", der); err != nil {
			return err
		}
		if err := writeKey(id.file+".key", key); err != nil {
			return err
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey("sa.key", saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM("sa.pub", "PUBLIC KEY", pub); err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for _, name := range kubeconfigs {
		crt, err := os.ReadFile(filepath.Join(pkiDir, name+".crt"))
		if err != nil {
			return err
		}
		key, err := os.ReadFile(filepath.Join(pkiDir, name+".key"))
		if err != nil {
			return err
		}
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[Name] = &clientcmdapi.Cluster{Server: apiServerURL(), CertificateAuthorityData: caPEM}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
		cfg.Contexts[Name] = &clientcmdapi.Context{Cluster: Name, AuthInfo: name}
		cfg.CurrentContext = Name
		if err := clientcmd.WriteToFile(*cfg, filepath.Join(pkiDir, name+".kubeconfig")); err != nil {
			return err
		}
	}
	return nil
}

func apiServerURL() string { return fmt.Sprintf("https://%s:%d", IP, APIServerPort) }

func writePEM(name, typ string, der []byte) error {
	return os.WriteFile(filepath.Join(pkiDir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func writeKey(name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(name, "EC PRIVATE KEY", der)
}
