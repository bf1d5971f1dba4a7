{{- define "promote.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "promote.serviceAccountName" -}}
{{- default (include "promote.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "promote.labels" -}}
app.kubernetes.io/name: promote
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "promote.selectorLabels" -}}
app.kubernetes.io/name: promote
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* The one namespace whose Promotions the operator watches (--namespace), or empty for all. */}}
{{- define "promote.watchNamespace" -}}
{{- if .Values.watchNamespace -}}
{{- .Values.watchNamespace -}}
{{- else if eq .Values.rbac.scope "namespaced" -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- /* What the operator does where Promotions live; docs/rbac.md says why each is needed. */}}
{{- define "promote.rules.promotions" -}}
# get: a reconcile reads a Promotion afresh when the watch has not yet delivered the
# operator's own last status write.
- apiGroups: [promote.dev]
  resources: [promotions]
  verbs: [get, list, watch]
# Status is written with server-side apply.
- apiGroups: [promote.dev]
  resources: [promotions/status]
  verbs: [patch]
# Credentials: the Secret a Promotion names, in its own namespace; watched by metadata.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
# One recorder: create an Event, patch it when it repeats.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{- define "promote.subjects" -}}
- kind: ServiceAccount
  name: {{ include "promote.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
