package main

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/names"
)

// resource is one built-in resource served from etcd.
type resource struct {
	gv               schema.GroupVersion
	plural, singular string
	namespaced       bool
	dnsLabel         bool // names must be DNS labels rather than subdomains
	shortNames       []string
	obj, list        runtime.Object
}

var (
	core   = corev1.SchemeGroupVersion
	coord  = coordinationv1.SchemeGroupVersion
	events = eventsv1.SchemeGroupVersion
	apps   = appsv1.SchemeGroupVersion
	rbac   = rbacv1.SchemeGroupVersion
)

// builtins is what an operator and its chart use. Storage only: no controllers act on them.
var builtins = []resource{
	{core, "namespaces", "namespace", false, true, []string{"ns"}, &corev1.Namespace{}, &corev1.NamespaceList{}},
	{core, "configmaps", "configmap", true, false, []string{"cm"}, &corev1.ConfigMap{}, &corev1.ConfigMapList{}},
	{core, "secrets", "secret", true, false, nil, &corev1.Secret{}, &corev1.SecretList{}},
	{core, "events", "event", true, false, []string{"ev"}, &corev1.Event{}, &corev1.EventList{}},
	{core, "services", "service", true, true, []string{"svc"}, &corev1.Service{}, &corev1.ServiceList{}},
	{core, "serviceaccounts", "serviceaccount", true, false, []string{"sa"}, &corev1.ServiceAccount{}, &corev1.ServiceAccountList{}},
	{coord, "leases", "lease", true, false, nil, &coordinationv1.Lease{}, &coordinationv1.LeaseList{}},
	{events, "events", "event", true, false, []string{"ev"}, &eventsv1.Event{}, &eventsv1.EventList{}},
	{apps, "deployments", "deployment", true, false, []string{"deploy"}, &appsv1.Deployment{}, &appsv1.DeploymentList{}},
	{rbac, "roles", "role", true, false, nil, &rbacv1.Role{}, &rbacv1.RoleList{}},
	{rbac, "rolebindings", "rolebinding", true, false, nil, &rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{}},
	{rbac, "clusterroles", "clusterrole", false, false, nil, &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleList{}},
	{rbac, "clusterrolebindings", "clusterrolebinding", false, false, nil, &rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRoleBindingList{}},
}

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() {
	seen := map[schema.GroupVersion]bool{}
	for _, r := range builtins {
		// The external type doubles as the internal (hub) type, so no conversions
		// are needed: the scheme only relabels the version.
		internal := schema.GroupVersion{Group: r.gv.Group, Version: runtime.APIVersionInternal}
		scheme.AddKnownTypes(r.gv, r.obj, r.list)
		scheme.AddKnownTypes(internal, r.obj, r.list)
		if !seen[r.gv] {
			seen[r.gv] = true
			metav1.AddToGroupVersion(scheme, r.gv)
			if err := scheme.SetVersionPriority(r.gv); err != nil {
				panic(err)
			}
		}
	}
	// The generic server wants these in the "" v1 group.
	scheme.AddUnversionedTypes(schema.GroupVersion{Version: "v1"},
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
}

// externalVersions lists the served group versions, in the order storage prefers them.
func externalVersions() []schema.GroupVersion {
	var gvs []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, r := range builtins {
		if !seen[r.gv] {
			seen[r.gv] = true
			gvs = append(gvs, r.gv)
		}
	}
	return gvs
}

func resourceConfig() *serverstorage.ResourceConfig {
	c := serverstorage.NewResourceConfig()
	c.EnableVersions(externalVersions()...)
	return c
}

// installBuiltins serves every resource in builtins from etcd.
func installBuiltins(s *genericapiserver.GenericAPIServer, getter generic.RESTOptionsGetter) error {
	groups := map[string]*genericapiserver.APIGroupInfo{}
	var order []string
	for _, r := range builtins {
		info, ok := groups[r.gv.Group]
		if !ok {
			i := genericapiserver.NewDefaultAPIGroupInfo(r.gv.Group, scheme, metav1.ParameterCodec, codecs)
			info = &i
			groups[r.gv.Group] = info
			order = append(order, r.gv.Group)
		}
		store, err := newStore(r, getter)
		if err != nil {
			return fmt.Errorf("storage for %s: %w", r.plural, err)
		}
		if info.VersionedResourcesStorageMap[r.gv.Version] == nil {
			info.VersionedResourcesStorageMap[r.gv.Version] = map[string]rest.Storage{}
		}
		info.VersionedResourcesStorageMap[r.gv.Version][r.plural] = store
	}
	for _, g := range order {
		var err error
		if g == "" {
			err = s.InstallLegacyAPIGroup("/api", groups[g])
		} else {
			err = s.InstallAPIGroup(groups[g])
		}
		if err != nil {
			return fmt.Errorf("install group %q: %w", g, err)
		}
	}
	return nil
}

// store is a generic etcd store that also tells discovery its short names.
type store struct {
	*genericregistry.Store
	shortNames []string
}

func (s *store) ShortNames() []string { return s.shortNames }

func newStore(r resource, getter generic.RESTOptionsGetter) (*store, error) {
	gr := r.gv.WithResource(r.plural).GroupResource()
	st := strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, r: r}
	s := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return r.obj.DeepCopyObject() },
		NewListFunc:               func() runtime.Object { return r.list.DeepCopyObject() },
		DefaultQualifiedResource:  gr,
		SingularQualifiedResource: r.gv.WithResource(r.singular).GroupResource(),
		CreateStrategy:            st,
		UpdateStrategy:            st,
		DeleteStrategy:            st,
		TableConvertor:            rest.NewDefaultTableConvertor(gr),
	}
	opts := &generic.StoreOptions{RESTOptions: getter}
	if _, ok := r.obj.(*corev1.Event); ok {
		opts.AttrFunc = eventAttrs
	}
	if err := s.CompleteWithOptions(opts); err != nil {
		return nil, err
	}
	return &store{Store: s, shortNames: r.shortNames}, nil
}

// eventAttrs supports the field selectors kubectl describe uses to find events.
func eventAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil, nil, fmt.Errorf("not an event: %T", obj)
	}
	f := generic.ObjectMetaFieldsSet(&e.ObjectMeta, true)
	f["involvedObject.kind"] = e.InvolvedObject.Kind
	f["involvedObject.namespace"] = e.InvolvedObject.Namespace
	f["involvedObject.name"] = e.InvolvedObject.Name
	f["involvedObject.uid"] = string(e.InvolvedObject.UID)
	f["involvedObject.apiVersion"] = e.InvolvedObject.APIVersion
	f["involvedObject.resourceVersion"] = e.InvolvedObject.ResourceVersion
	f["involvedObject.fieldPath"] = e.InvolvedObject.FieldPath
	f["reason"] = e.Reason
	f["type"] = e.Type
	f["source"] = e.Source.Component
	return labels.Set(e.Labels), f, nil
}

// createOnUpdate lists the resources kube-apiserver lets a PUT create.
var createOnUpdate = map[string]bool{"events": true, "services": true, "leases": true,
	"roles": true, "rolebindings": true, "clusterroles": true, "clusterrolebindings": true}

// strategy accepts any well-formed object: metadata is validated, the rest is
// stored as sent, as no controller acts on these types here.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	r resource
}

func (s strategy) NamespaceScoped() bool                                   { return s.r.namespaced }
func (s strategy) AllowCreateOnUpdate() bool                               { return createOnUpdate[s.r.plural] }
func (strategy) AllowUnconditionalUpdate() bool                            { return true }
func (strategy) Canonicalize(runtime.Object)                               {}
func (strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (strategy) PrepareForCreate(_ context.Context, obj runtime.Object) { normalize(obj) }

func (strategy) PrepareForUpdate(_ context.Context, obj, _ runtime.Object) { normalize(obj) }

func (s strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	nameFn := metavalidation.NameIsDNSSubdomain
	if s.r.dnsLabel {
		nameFn = metavalidation.NameIsDNSLabel
	}
	return metavalidation.ValidateObjectMetaAccessor(m, s.r.namespaced, nameFn, field.NewPath("metadata"))
}

func (s strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	errs := s.Validate(ctx, obj)
	m, err1 := meta.Accessor(obj)
	o, err2 := meta.Accessor(old)
	if err1 == nil && err2 == nil {
		errs = append(errs, metavalidation.ValidateObjectMetaAccessorUpdate(m, o, field.NewPath("metadata"))...)
	}
	return errs
}

// normalize mimics the few conversions and defaults clients rely on.
func normalize(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Secret:
		// kube-apiserver merges stringData into data on write.
		for k, v := range o.StringData {
			if o.Data == nil {
				o.Data = map[string][]byte{}
			}
			o.Data[k] = []byte(v)
		}
		o.StringData = nil
		if o.Type == "" {
			o.Type = corev1.SecretTypeOpaque
		}
	case *corev1.Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = corev1.NamespaceActive
		}
	}
}
