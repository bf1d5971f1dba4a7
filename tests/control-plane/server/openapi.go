package main

import (
	"github.com/emicklei/go-restful/v3"

	extensionsopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/routes"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	generated "controlplane/openapi"
)

// openAPIDefinitions merges the generated definitions of the built-in types with
// apiextensions' own.
func openAPIDefinitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := generated.GetOpenAPIDefinitions(ref)
	for name, def := range extensionsopenapi.GetOpenAPIDefinitions(ref) {
		defs[name] = def
	}
	return defs
}

// openAPIDocs serves /openapi/v2 and /openapi/v3 over the routes of both servers.
type openAPIDocs struct {
	spec *spec.Swagger
	v2   *handler.OpenAPIService
	v3   *handler3.OpenAPIService
}

func (d *openAPIDocs) install(top, crds *genericapiserver.GenericAPIServer, v2 *common.Config, v3 *common.OpenAPIV3Config) {
	all := restful.NewContainer()
	seen := map[string]bool{}
	for _, c := range []*restful.Container{top.Handler.GoRestfulContainer, crds.Handler.GoRestfulContainer} {
		for _, ws := range c.RegisteredWebServices() {
			if !seen[ws.RootPath()] {
				seen[ws.RootPath()] = true
				all.Add(ws)
			}
		}
	}
	d.v2, d.spec = routes.OpenAPI{Config: v2}.InstallV2(all, top.Handler.NonGoRestfulMux)
	d.v3 = routes.OpenAPI{V3Config: v3}.InstallV3(all, top.Handler.NonGoRestfulMux)
}
