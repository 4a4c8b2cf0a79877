{{/* Names */}}
{{- define "awsomechat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "awsomechat.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "awsomechat.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "awsomechat.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "awsomechat.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "awsomechat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component (api, model-runner, migrate): call with (list . "api"). */}}
{{- define "awsomechat.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "awsomechat.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "awsomechat.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "awsomechat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "awsomechat.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "awsomechat.secretName" -}}
{{ include "awsomechat.fullname" . }}
{{- end }}

{{- define "awsomechat.runnerName" -}}
{{ include "awsomechat.fullname" . }}-model-runner
{{- end }}

{{- define "awsomechat.runnerURL" -}}
http://{{ include "awsomechat.runnerName" . }}:9000
{{- end }}

{{/* The database URL, from the chart's Secret or the user's own. */}}
{{- define "awsomechat.databaseEnv" -}}
- name: AWSOMECHAT_DATABASE__URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.database.existingSecret }}
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
      {{- else }}
      name: {{ include "awsomechat.secretName" . }}
      key: database-url
      {{- end }}
- name: AWSOMECHAT_DATABASE__POOL_MAX
  value: {{ .Values.database.poolMax | quote }}
{{- end }}

{{/* Settings every AWSomeChat container shares. */}}
{{- define "awsomechat.commonEnv" -}}
- name: AWSOMECHAT_LOG_LEVEL
  value: INFO
- name: HF_HOME
  value: /tmp/hf
{{- end }}

{{/* How the API reaches the model. */}}
{{- define "awsomechat.llmEnv" -}}
{{- if eq .Values.model.kind "runner" }}
- name: AWSOMECHAT_LLM__KIND
  value: llamacpp
- name: AWSOMECHAT_LLM__RUNNER_URL
  value: {{ include "awsomechat.runnerURL" . }}
- name: AWSOMECHAT_LLM__API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "awsomechat.secretName" . }}
      key: runner-token
{{- include "awsomechat.modelPathEnv" . }}
{{- else if eq .Values.model.kind "openai" }}
- name: AWSOMECHAT_LLM__KIND
  value: openai
- name: AWSOMECHAT_LLM__BASE_URL
  value: {{ required "model.openai.baseUrl is required with model.kind=openai" .Values.model.openai.baseUrl | quote }}
- name: AWSOMECHAT_LLM__REMOTE_MODEL
  value: {{ .Values.model.openai.model | quote }}
{{- if .Values.model.openai.apiKey }}
- name: AWSOMECHAT_LLM__API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "awsomechat.secretName" . }}
      key: llm-api-key
{{- end }}
- name: AWSOMECHAT_API__GENERATION_CONCURRENCY
  value: {{ .Values.model.openai.generationConcurrency | quote }}
{{- else }}
{{- fail (printf "model.kind must be runner or openai, not %q" .Values.model.kind) }}
{{- end }}
{{- end }}

{{- define "awsomechat.modelPathEnv" -}}
{{- if .Values.model.runner.modelPath }}
- name: AWSOMECHAT_LLM__MODEL_PATH
  value: {{ .Values.model.runner.modelPath | quote }}
{{- end }}
{{- end }}

{{/* The GGUF volume (runner kind with a model of one's own), as volumes and as volumeMounts. */}}
{{- define "awsomechat.modelVolume" -}}
{{- if and (eq .Values.model.kind "runner") .Values.model.runner.modelVolume }}
- name: models
  {{- toYaml .Values.model.runner.modelVolume | nindent 2 }}
{{- end }}
{{- end }}

{{- define "awsomechat.modelVolumeMount" -}}
{{- if and (eq .Values.model.kind "runner") .Values.model.runner.modelVolume }}
- name: models
  mountPath: /models
  readOnly: true
{{- end }}
{{- end }}
