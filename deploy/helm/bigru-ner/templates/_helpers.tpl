{{/* Chart name, truncated to the 63 characters that label values allow. */}}
{{- define "bigru-ner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name of every object. */}}
{{- define "bigru-ner.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "bigru-ner.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "bigru-ner.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels that select this release's pods (Deployment, Service, PDB, NetworkPolicy). */}}
{{- define "bigru-ner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bigru-ner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "bigru-ner.labels" -}}
{{ include "bigru-ner.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Threads of the model (NER_TORCH_THREADS). On the CPU, one: the service then runs a model
process per core it may use, at most two (NER_MODEL_WORKERS, which reads the CPU limit from
its cgroup), and one thread each served more than more threads (BENCHMARKS.md). On CUDA, one
model process with the whole CPUs of the container's CPU limit, at least one. Either way torch
would otherwise start a thread per core of the node, which the limit then throttles.
*/}}
{{- define "bigru-ner.torchThreads" -}}
{{- if not (hasPrefix "cuda" (toString (.Values.settings.device | default "cpu"))) }}
{{- 1 }}
{{- else }}
{{- $cpu := toString (required "resources.limits.cpu is required: the model's threads follow it" .Values.resources.limits.cpu) }}
{{- $cores := 0.0 }}
{{- if hasSuffix "m" $cpu }}
{{- $cores = divf (trimSuffix "m" $cpu | float64) 1000 }}
{{- else }}
{{- $cores = float64 $cpu }}
{{- end }}
{{- max 1 (floor $cores | int) }}
{{- end }}
{{- end }}

{{/*
Seconds between the kubelet's decision to stop a pod and SIGKILL: the preStop pause (endpoints
are removed meanwhile), then the service's drain (NER_SHUTDOWN_GRACE_S), then the margin that
uvicorn and the model process take to exit.
*/}}
{{- define "bigru-ner.terminationGrace" -}}
{{- with .Values.shutdown }}
{{- add .preStopSeconds .drainSeconds .marginSeconds }}
{{- end }}
{{- end }}

{{/*
Settings the chart derives itself; setting them under `settings` too would give two values.
*/}}
{{- define "bigru-ner.derivedSettings" -}}
{{- $derived := dict "port" "port" "torch_threads" "resources.limits.cpu and settings.device" "shutdown_grace_s" "shutdown.drainSeconds" "api_key" "apiKey.existingSecret" }}
{{- range $name, $from := $derived }}
{{- if hasKey $.Values.settings $name }}
{{- fail (printf "settings.%s: the chart sets NER_%s from %s" $name (upper $name) $from) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The queue depth of this release's pods, in PromQL label matchers. */}}
{{- define "bigru-ner.podMatchers" -}}
namespace="{{ .Release.Namespace }}",app_kubernetes_io_instance="{{ .Release.Name }}"
{{- end }}
