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
