{{/*
The chart's name, or nameOverride.
*/}}
{{- define "s2lite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release
name, with the chart's name appended unless the release name contains it.
Kept to 63 characters, the limit of a DNS label.
*/}}
{{- define "s2lite.fullname" -}}
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

{{- define "s2lite.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "s2lite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "s2lite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "s2lite.labels" -}}
helm.sh/chart: {{ include "s2lite.chart" . }}
{{ include "s2lite.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "s2lite.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "s2lite.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "s2lite.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
The port the container listens on (service.targetPort, 8080 by default).
*/}}
{{- define "s2lite.containerPort" -}}
{{- $port := .Values.service.targetPort | default 8080 }}
{{- if not (regexMatch "^[0-9]+$" (toString $port)) }}
{{- fail (printf "service.targetPort must be a port number (the chart passes it to s2lite as --port), not %q" (toString $port)) }}
{{- end }}
{{- toString $port }}
{{- end }}

{{- define "s2lite.tlsEnabled" -}}
{{- if .Values.tls.enabled }}true{{ end }}
{{- end }}

{{/*
Checks of the values that would otherwise produce a release that cannot
work; each stops the render with a message saying what to change.
*/}}
{{- define "s2lite.validate" -}}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount is %d, but s2lite runs as a single writer: one server owns a bucket prefix, and a second one on the same prefix fences the first (in memory, replicas would each hold different data). Set replicaCount to 1." (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.objectStorage.enabled (not .Values.objectStorage.bucket) }}
{{- fail "objectStorage.enabled is true but objectStorage.bucket is empty: name the bucket s2lite keeps its data in." }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- if .Values.tls.selfSigned }}
{{- if or .Values.tls.cert .Values.tls.key }}
{{- fail "tls.selfSigned and tls.cert/tls.key are both set: choose a self-signed certificate or the given one." }}
{{- end }}
{{- else if not (and .Values.tls.cert .Values.tls.key) }}
{{- fail "tls.enabled is true: set tls.selfSigned, or both tls.cert and tls.key (paths inside the container, mounted with volumes/volumeMounts)." }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The arguments of the container: `serve` and its flags.
*/}}
{{- define "s2lite.args" -}}
- serve
- --port
- {{ include "s2lite.containerPort" . | quote }}
{{- if .Values.objectStorage.enabled }}
- --bucket
- {{ .Values.objectStorage.bucket | toString | quote }}
{{- with .Values.objectStorage.path }}
- --path
- {{ . | toString | quote }}
{{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- if .Values.tls.selfSigned }}
- --tls-self
{{- else }}
- --tls-cert
- {{ .Values.tls.cert | toString | quote }}
- --tls-key
- {{ .Values.tls.key | toString | quote }}
{{- end }}
{{- end }}
{{- $cp := .Values.checkpoints | default dict }}
{{- with $cp.interval }}
- --checkpoint-interval
- {{ . | toString | quote }}
{{- end }}
{{- with $cp.retention }}
- --checkpoint-retention
- {{ . | toString | quote }}
{{- end }}
{{- $auth := .Values.auth | default dict }}
{{- if and (hasKey $auth "enabled") (not $auth.enabled) }}
- --no-auth
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | toString | quote }}
{{- end }}
{{- end }}

{{/*
A probe from values; with TLS on, an httpGet that names no scheme uses HTTPS
(the kubelet does not verify the certificate).
*/}}
{{- define "s2lite.probe" -}}
{{- $probe := deepCopy .probe }}
{{- if and .tls (hasKey $probe "httpGet") }}
{{- if not (hasKey $probe.httpGet "scheme") }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- end }}
{{- toYaml $probe }}
{{- end }}
