{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "inference-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. When the release name already contains the chart name it is used
as is.
*/}}
{{- define "inference-sidecar.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "inference-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "inference-sidecar.labels" -}}
helm.sh/chart: {{ include "inference-sidecar.chart" . }}
{{ include "inference-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: inference
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable for the life of a release.
*/}}
{{- define "inference-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inference-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "inference-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "inference-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: a digest wins over a tag; the tag defaults to the appVersion.
*/}}
{{- define "inference-sidecar.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the secrets key and Elasticsearch credentials.
*/}}
{{- define "inference-sidecar.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "inference-sidecar.fullname" . }}
{{- else }}
{{- required "secrets.existingSecret is required when secrets.create is false (a Secret holding the secrets key and Elasticsearch credentials)" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{/*
Seconds of shutdown the application needs: grace plus drain.
*/}}
{{- define "inference-sidecar.shutdownSeconds" -}}
{{- addf .Values.config.shutdownGraceSeconds .Values.config.shutdownDrainSeconds }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the value set, which must exceed grace + drain, or grace + drain + 10.
*/}}
{{- define "inference-sidecar.terminationGracePeriodSeconds" -}}
{{- $needed := include "inference-sidecar.shutdownSeconds" . | float64 }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- addf $needed 10 | ceil | int64 }}
{{- else }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.shutdownGraceSeconds + config.shutdownDrainSeconds (%v), or the pod is killed while it drains" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- .Values.terminationGracePeriodSeconds | int64 }}
{{- end }}
{{- end }}

{{/*
Checks of values that span several keys (the schema checks each key on its own).
*/}}
{{- define "inference-sidecar.validate" -}}
{{- if and .Values.elasticsearch.caCert.secretName .Values.elasticsearch.caCert.configMapName }}
{{- fail "set at most one of elasticsearch.caCert.secretName and elasticsearch.caCert.configMapName" }}
{{- end }}
{{- if .Values.secrets.create }}
{{- $_ := required "secrets.secretsKey is required when secrets.create is true (base64 of 32 random bytes)" .Values.secrets.secretsKey }}
{{- if eq .Values.elasticsearch.auth "basic" }}
{{- $_ := required "secrets.esUsername is required when secrets.create is true and elasticsearch.auth is basic" .Values.secrets.esUsername }}
{{- $_ := required "secrets.esPassword is required when secrets.create is true and elasticsearch.auth is basic" .Values.secrets.esPassword }}
{{- else if eq .Values.elasticsearch.auth "apiKey" }}
{{- $_ := required "secrets.esApiKey is required when secrets.create is true and elasticsearch.auth is apiKey" .Values.secrets.esApiKey }}
{{- end }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "set only one of podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable (null the other)" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas" }}
{{- end }}
{{- end }}
