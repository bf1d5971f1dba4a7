package main

import (
	"context"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apiserver"
	openapicontroller "k8s.io/apiextensions-apiserver/pkg/controller/openapi"
	openapiv3controller "k8s.io/apiextensions-apiserver/pkg/controller/openapiv3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/version"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

var bootstrapNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// addHooks wires what kube-apiserver's controllers would otherwise do.
func addHooks(s *genericapiserver.GenericAPIServer, crds *apiextensions.CustomResourceDefinitions, informers kubeinformers.SharedInformerFactory, docs *openAPIDocs, creds *credentials, port int) {
	crdInformer := crds.Informers.Apiextensions().V1().CustomResourceDefinitions()
	v2 := openapicontroller.NewController(crdInformer)
	v3 := openapiv3controller.NewController(crdInformer)
	groups := &crdGroups{top: s, added: map[string]bool{}}
	crdInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { groups.sync(crdInformer.Lister().List) },
		UpdateFunc: func(any, any) { groups.sync(crdInformer.Lister().List) },
		DeleteFunc: func(any) { groups.sync(crdInformer.Lister().List) },
	})
	extGV := metav1.GroupVersionForDiscovery{GroupVersion: apiextensionsv1.SchemeGroupVersion.String(), Version: "v1"}
	s.DiscoveryGroupManager.AddGroup(metav1.APIGroup{Name: apiextensionsv1.GroupName, Versions: []metav1.GroupVersionForDiscovery{extGV}, PreferredVersion: extGV})

	s.AddPostStartHookOrDie("promote-openapi-crds", func(ctx genericapiserver.PostStartHookContext) error {
		go v2.Run(docs.spec, docs.v2, ctx.Done())
		go v3.Run(docs.v3, ctx.Done())
		return nil
	})
	s.AddPostStartHookOrDie("promote-bootstrap-namespaces", func(ctx genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(ctx.LoopbackClientConfig)
		if err != nil {
			return err
		}
		return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(c context.Context) (bool, error) {
			for _, name := range bootstrapNamespaces {
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
				if _, err := client.CoreV1().Namespaces().Create(c, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					klog.V(2).InfoS("bootstrap namespace not created yet", "namespace", name, "err", err)
					return false, nil
				}
			}
			return true, nil
		})
	})
	s.AddPostStartHookOrDie("promote-namespace-cleanup", func(ctx genericapiserver.PostStartHookContext) error {
		dyn, err := dynamic.NewForConfig(ctx.LoopbackClientConfig)
		if err != nil {
			return err
		}
		_, err = informers.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(obj any) {
				if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = tombstone.Obj
				}
				if ns, ok := obj.(*corev1.Namespace); ok {
					go deleteNamespaceContents(ctx, dyn, crdInformer.Lister().List, ns.Name)
				}
			},
		})
		return err
	})
	s.AddPostStartHookOrDie("promote-kubeconfig", func(ctx genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(ctx.LoopbackClientConfig)
		if err != nil {
			return err
		}
		// Written only once the server reports ready, so its presence means "ready".
		go func() {
			err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(c context.Context) (bool, error) {
				_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(c)
				return err == nil, nil
			})
			if err == nil {
				err = writeKubeconfig(creds, port)
			}
			if err != nil {
				klog.ErrorS(err, "kubeconfig not written")
			}
		}()
		return nil
	})
}

type crdLister func(labels.Selector) ([]*apiextensionsv1.CustomResourceDefinition, error)

// crdGroups keeps the legacy /apis group list in step with the CRDs. The CRD
// server maintains this list on its own (delegate) server, which is not the
// one answering /apis; aggregated discovery is shared and needs no help.
type crdGroups struct {
	mu    sync.Mutex
	top   *genericapiserver.GenericAPIServer
	added map[string]bool
}

func (g *crdGroups) sync(list crdLister) {
	g.mu.Lock()
	defer g.mu.Unlock()
	crds, err := list(labels.Everything())
	if err != nil {
		klog.ErrorS(err, "listing CRDs for discovery")
		return
	}
	versions := map[string]map[string]bool{}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if v.Served {
				if versions[crd.Spec.Group] == nil {
					versions[crd.Spec.Group] = map[string]bool{}
				}
				versions[crd.Spec.Group][v.Name] = true
			}
		}
	}
	for group, set := range versions {
		var vs []metav1.GroupVersionForDiscovery
		for v := range set {
			vs = append(vs, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
		}
		sort.Slice(vs, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(vs[i].Version, vs[j].Version) > 0 })
		g.top.DiscoveryGroupManager.AddGroup(metav1.APIGroup{Name: group, Versions: vs, PreferredVersion: vs[0]})
	}
	for group := range g.added {
		if versions[group] == nil {
			g.top.DiscoveryGroupManager.RemoveGroup(group)
		}
	}
	g.added = map[string]bool{}
	for group := range versions {
		g.added[group] = true
	}
}

// deleteNamespaceContents stands in for the namespace controller: once a
// namespace is gone, so is everything that was in it.
func deleteNamespaceContents(ctx context.Context, dyn dynamic.Interface, list crdLister, ns string) {
	var gvrs []schema.GroupVersionResource
	for _, r := range builtins {
		if r.namespaced {
			gvrs = append(gvrs, r.gv.WithResource(r.plural))
		}
	}
	crds, err := list(labels.Everything())
	if err != nil {
		klog.ErrorS(err, "listing CRDs for namespace cleanup", "namespace", ns)
	}
	for _, crd := range crds {
		if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				gvrs = append(gvrs, schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural})
			}
		}
	}
	for _, gvr := range gvrs {
		err := dyn.Resource(gvr).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			klog.ErrorS(err, "namespace cleanup", "namespace", ns, "resource", gvr.String())
		}
	}
}
