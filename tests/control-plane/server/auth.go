package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	apiserverapis "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// credentials are the files in --data-dir that authenticate server and clients.
type credentials struct {
	dir, ca, serverCert, serverKey, clientCert, clientKey, tokens, token string
}

// Anonymous callers may only probe health and version.
var anonymousPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

// ensureCredentials creates a CA, a serving certificate for 127.0.0.1, an admin
// client certificate (O=system:masters) and a static token, once per data dir.
func ensureCredentials(dir string) (*credentials, error) {
	c := &credentials{
		dir:        dir,
		ca:         filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "server.crt"),
		serverKey:  filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "admin.crt"),
		clientKey:  filepath.Join(dir, "admin.key"),
		tokens:     filepath.Join(dir, "tokens.csv"),
	}
	if _, err := os.Stat(c.tokens); err == nil {
		raw, err := os.ReadFile(filepath.Join(dir, "token"))
		c.token = string(raw)
		return c, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, caCert, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "promote-test-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil, c.ca, "")
	if err != nil {
		return nil, err
	}
	if _, _, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "promote-apiserver"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, caCert, caKey, c.serverCert, c.serverKey); err != nil {
		return nil, err
	}
	if _, _, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "promote-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey, c.clientCert, c.clientKey); err != nil {
		return nil, err
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	c.token = hex.EncodeToString(secret)
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(c.token), 0o600); err != nil {
		return nil, err
	}
	line := fmt.Sprintf("%s,promote-token-user,promote-token-user,\"system:masters\"\n", c.token)
	return c, os.WriteFile(c.tokens, []byte(line), 0o600)
}

// issue signs tmpl with the parent (self-signed when parent is nil) and writes PEM files.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, certPath, keyPath string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	if keyPath != "" {
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
			return nil, nil, err
		}
	}
	return key, cert, nil
}

// applyAuth authenticates by client certificate or static token, lets anonymous
// callers reach only anonymousPaths, and allows everything else (no RBAC here).
func applyAuth(cfg *genericapiserver.Config, c *credentials) error {
	ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", c.ca)
	if err != nil {
		return err
	}
	if err := cfg.Authentication.ApplyClientCert(ca, cfg.SecureServing); err != nil {
		return err
	}
	tokens, err := tokenfile.NewCSV(c.tokens)
	if err != nil {
		return err
	}
	var conditions []apiserverapis.AnonymousAuthCondition
	for _, p := range anonymousPaths {
		conditions = append(conditions, apiserverapis.AnonymousAuthCondition{Path: p})
	}
	cfg.Authentication.Authenticator = union.New(
		x509request.NewDynamic(ca.VerifyOptions, x509request.CommonNameUserConversion),
		bearertoken.New(tokens),
		anonymous.NewAuthenticator(conditions),
	)
	cfg.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	genericapiserver.AuthorizeClientBearerToken(cfg.LoopbackClientConfig, &cfg.Authentication, &cfg.Authorization)
	return nil
}

// writeKubeconfig writes the kubeconfig clients use, atomically, with two
// contexts: the admin certificate (current) and the static token.
func writeKubeconfig(c *credentials, port int) error {
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["promote-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: c.ca}
	kc.AuthInfos["promote-admin"] = &clientcmdapi.AuthInfo{ClientCertificate: c.clientCert, ClientKey: c.clientKey}
	kc.AuthInfos["promote-token"] = &clientcmdapi.AuthInfo{Token: c.token}
	kc.Contexts["promote-test"] = &clientcmdapi.Context{Cluster: "promote-test", AuthInfo: "promote-admin", Namespace: "default"}
	kc.Contexts["promote-test-token"] = &clientcmdapi.Context{Cluster: "promote-test", AuthInfo: "promote-token", Namespace: "default"}
	kc.CurrentContext = "promote-test"
	tmp := filepath.Join(c.dir, "kubeconfig.tmp")
	if err := clientcmd.WriteToFile(*kc, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, "kubeconfig"))
}
