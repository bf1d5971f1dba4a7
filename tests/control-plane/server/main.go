// Command promote-apiserver is a test-only Kubernetes API server: the real
// apiextensions server (CRDs) as the delegate of a generic server that stores a
// few built-in types in etcd. It exists so the operator's tests run against a
// real API server without Docker. Never expose it beyond 127.0.0.1.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apiserver"
	extensionsoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "free-ports" {
		os.Exit(printFreePorts(os.Args[2]))
	}
	ctx := genericapiserver.SetupSignalContext()
	if err := run(ctx); err != nil {
		klog.ErrorS(err, "promote-apiserver failed")
		os.Exit(1)
	}
}

// printFreePorts prints n loopback TCP ports that were free a moment ago (for etcd).
func printFreePorts(arg string) int {
	n, err := strconv.Atoi(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: promote-apiserver free-ports N")
		return 2
	}
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		listeners = append(listeners, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return 0
}

func run(ctx context.Context) error {
	runOpts := options.NewServerRunOptions()
	o := options.NewRecommendedOptions("/registry", codecs.LegacyCodec(externalVersions()...))
	// Our own authentication and authorization (auth.go) replace the delegating ones,
	// and nothing that needs APIs we do not serve (flow control, webhooks, policies).
	o.Authentication, o.Authorization = nil, nil
	// The core API informers and admission talk to this very server over loopback,
	// which exists only once serving is configured (see below).
	o.CoreAPI = nil
	admission := o.Admission
	o.Admission = nil
	o.Features.EnablePriorityAndFairness = false
	admission.DisablePlugins = []string{"MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook"}

	fs := pflag.NewFlagSet("promote-apiserver", pflag.ExitOnError)
	dataDir := fs.String("data-dir", "", "directory for certificates, token file and kubeconfig")
	o.Etcd.AddFlags(fs)
	o.Audit.AddFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if err := runOpts.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if *dataDir == "" {
		return fmt.Errorf("--data-dir is required")
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	files, err := ensureCredentials(dir)
	if err != nil {
		return err
	}
	// Loopback only, on a port the kernel picks; clients learn it from the kubeconfig.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	o.SecureServing.Listener = listener
	o.SecureServing.ServerCert.CertKey.CertFile = files.serverCert
	o.SecureServing.ServerCert.CertKey.KeyFile = files.serverKey

	if errs := o.Validate(); len(errs) > 0 {
		return fmt.Errorf("invalid options: %v", errs)
	}

	cfg := genericapiserver.NewRecommendedConfig(codecs)
	if err := runOpts.ApplyTo(&cfg.Config); err != nil {
		return err
	}
	cfg.ExternalAddress = listener.Addr().String()
	if err := o.ApplyTo(cfg); err != nil {
		return err
	}
	if err := applyAdmission(cfg, admission, o); err != nil {
		return err
	}
	if err := applyAuth(&cfg.Config, files); err != nil {
		return err
	}
	namer := openapinamer.NewDefinitionNamer(scheme, apiextensions.Scheme)
	defs := openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(openAPIDefinitions)
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, namer)
	cfg.OpenAPIConfig.Info.Title = "promote-apiserver"
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, namer)
	cfg.OpenAPIV3Config.Info.Title = "promote-apiserver"
	// Installed by hand over both servers' routes (openapi.go), so CRDs and
	// built-in types appear in one document, as kube-apiserver's aggregator does.
	cfg.SkipOpenAPIInstallation = true
	cfg.AggregatedDiscoveryGroupManager = aggregated.NewResourceManager("apis")
	cfg.MergedResourceConfig = resourceConfig()

	extCfg, err := apiextensionsConfig(cfg, o.Etcd)
	if err != nil {
		return err
	}
	crds, err := extCfg.Complete().New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	server, err := cfg.Complete().New("promote-apiserver", crds.GenericAPIServer)
	if err != nil {
		return err
	}
	if err := installBuiltins(server, cfg.RESTOptionsGetter); err != nil {
		return err
	}
	docs := &openAPIDocs{}
	addHooks(server, crds, cfg.SharedInformerFactory, docs, files, listener.Addr().(*net.TCPAddr).Port)

	prepared := server.PrepareRun()
	docs.install(server, crds.GenericAPIServer, cfg.OpenAPIConfig, cfg.OpenAPIV3Config)
	return prepared.RunWithContext(ctx)
}

// applyAdmission points the core informers at this server and enables NamespaceLifecycle.
func applyAdmission(cfg *genericapiserver.RecommendedConfig, admission *options.AdmissionOptions, o *options.RecommendedOptions) error {
	client, err := kubernetes.NewForConfig(cfg.LoopbackClientConfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg.LoopbackClientConfig)
	if err != nil {
		return err
	}
	cfg.ClientConfig = cfg.LoopbackClientConfig
	cfg.SharedInformerFactory = informers.NewSharedInformerFactory(client, 10*time.Minute)
	return admission.ApplyTo(&cfg.Config, cfg.SharedInformerFactory, client, dyn, o.FeatureGate, cfg.EffectiveVersion)
}

// apiextensionsConfig derives the CRD server's configuration from the top server's,
// the way kube-apiserver does: same serving, authentication and admission, its own
// storage codec.
func apiextensionsConfig(top *genericapiserver.RecommendedConfig, etcd *options.EtcdOptions) (*apiextensions.Config, error) {
	generic := top.Config
	generic.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	generic.RESTOptionsGetter = nil
	generic.Serializer = apiextensions.Codecs
	generic.MergedResourceConfig = apiextensions.DefaultAPIResourceConfigSource()

	etcdOpts := *etcd
	etcdOpts.StorageConfig.Codec = apiextensions.Codecs.LegacyCodec(v1beta1.SchemeGroupVersion, apiextensionsv1.SchemeGroupVersion)
	etcdOpts.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(v1beta1.SchemeGroupVersion, schema.GroupKind{Group: v1beta1.GroupName})
	etcdOpts.SkipHealthEndpoints = true
	if err := etcdOpts.ApplyTo(&generic); err != nil {
		return nil, err
	}
	return &apiextensions.Config{
		GenericConfig: &genericapiserver.RecommendedConfig{Config: generic, SharedInformerFactory: top.SharedInformerFactory},
		ExtraConfig: apiextensions.ExtraConfig{
			CRDRESTOptionsGetter: extensionsoptions.NewCRDRESTOptionsGetter(etcdOpts, generic.ResourceTransformers, generic.StorageObjectCountTracker),
			MasterCount:          1,
		},
	}, nil
}
