{{/* Names, labels and the worker's configuration, shared by the templates. */}}

{{- define "lifeboat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lifeboat.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lifeboat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lifeboat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lifeboat.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lifeboat.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "lifeboat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lifeboat.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lifeboat.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "lifeboat.configMapName" -}}
{{- default (printf "%s-config" (include "lifeboat.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{/* The Secret the worker reads, or "" when there is none. */}}
{{- define "lifeboat.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.values -}}
{{- include "lifeboat.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Where the worker finds its files. */}}
{{- define "lifeboat.configPath" -}}/etc/lifeboat/lifeboat.yaml{{- end -}}
{{- define "lifeboat.secretsDir" -}}/etc/lifeboat/secrets{{- end -}}
{{- define "lifeboat.tlsDir" -}}
{{- if .Values.temporal.tls.existingSecret -}}/etc/lifeboat/tls{{- else -}}{{ include "lifeboat.secretsDir" . }}{{- end -}}
{{- end -}}

{{/* The pod's grace period: the worker's shutdown timeout and the margin it needs after it. */}}
{{- define "lifeboat.terminationGracePeriodSeconds" -}}
{{- add .Values.worker.shutdownTimeoutSeconds .Values.worker.shutdownMarginSeconds -}}
{{- end -}}

{{/* TLS settings toward Temporal as the worker's configuration names them; empty without TLS. */}}
{{- define "lifeboat.temporalTLS" -}}
{{- $t := .Values.temporal.tls -}}
{{- $tls := dict -}}
{{- if or $t.enabled $t.clientCert $t.ca -}}
{{- $_ := set $tls "enabled" true -}}
{{- end -}}
{{- if $t.serverName -}}
{{- $_ := set $tls "server_name" $t.serverName -}}
{{- end -}}
{{- if $t.clientCert -}}
{{- $_ := set $tls "cert_file" (printf "%s/tls.crt" (include "lifeboat.tlsDir" .)) -}}
{{- $_ := set $tls "key_file" (printf "%s/tls.key" (include "lifeboat.tlsDir" .)) -}}
{{- end -}}
{{- if $t.ca -}}
{{- $_ := set $tls "ca_file" (printf "%s/ca.crt" (include "lifeboat.tlsDir" .)) -}}
{{- end -}}
{{- if $tls -}}{{- toYaml $tls -}}{{- end -}}
{{- end -}}

{{/*
The settings the chart owns: they come from its values, reach the worker as environment variables
(which override the file) and, with a rendered configuration, are written into the file as well.
*/}}
{{- define "lifeboat.checkValues" -}}
{{- $cfg := .Values.config.lifeboat | default dict -}}
{{- $owned := dict "temporal" (list "address" "namespace" "api_key" "tls") "worker" (list "task_queue" "shutdown_timeout") "http" (list "listen") -}}
{{- $from := dict "temporal.address" "temporal.address" "temporal.namespace" "temporal.namespace" "temporal.api_key" "temporal.apiKey and secrets" "temporal.tls" "temporal.tls" "worker.task_queue" "temporal.taskQueue" "worker.shutdown_timeout" "worker.shutdownTimeoutSeconds" "http.listen" "http.port" -}}
{{- range $section, $keys := $owned -}}
{{- $s := get $cfg $section -}}
{{- if kindIs "map" $s -}}
{{- range $k := $keys -}}
{{- if hasKey $s $k -}}
{{- fail (printf "config.lifeboat.%s.%s: the chart sets it from %s; remove it from config.lifeboat" $section $k (get $from (printf "%s.%s" $section $k))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $secretKeys := keys (.Values.secrets.values | default dict) -}}
{{- if not .Values.secrets.existingSecret -}}
{{- range $k := .Values.secrets.env -}}
{{- if not (has $k $secretKeys) -}}
{{- fail (printf "secrets.env names %s, which is not a key of secrets.values: add it there, or name an existingSecret that holds it" $k) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.temporal.apiKey (not (has "TEMPORAL_API_KEY" $secretKeys)) -}}
{{- fail "temporal.apiKey is on but secrets.values has no TEMPORAL_API_KEY: add it, or name an existingSecret that holds it" -}}
{{- end -}}
{{- if not .Values.temporal.tls.existingSecret -}}
{{- range $k := concat (ternary (list "tls.crt" "tls.key") list .Values.temporal.tls.clientCert) (ternary (list "ca.crt") list .Values.temporal.tls.ca) -}}
{{- if not (has $k $secretKeys) -}}
{{- fail (printf "temporal.tls needs the key %s, which secrets.values lacks: add it, or name a temporal.tls.existingSecret (kubernetes.io/tls) or a secrets.existingSecret that holds it" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.keda.enabled -}}
{{- $t := .Values.temporal.tls -}}
{{- if and (or $t.enabled $t.ca) (not $t.clientCert) (not .Values.temporal.apiKey) -}}
{{- fail "keda.enabled: KEDA's temporal scaler connects with TLS only with an API key (temporal.apiKey) or a client certificate (temporal.tls.clientCert); it cannot reach a server that wants TLS without either" -}}
{{- end -}}
{{- if and $t.ca (not $t.clientCert) -}}
{{- fail "keda.enabled: KEDA's temporal scaler verifies the server with temporal.tls.ca only when it has a client certificate (temporal.tls.clientCert); with an API key alone it trusts the system's roots" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* lifeboat.yaml as the chart renders it: config.lifeboat plus the settings the chart owns. */}}
{{- define "lifeboat.configFile" -}}
{{- include "lifeboat.checkValues" . -}}
{{- $cfg := deepCopy (.Values.config.lifeboat | default dict) -}}
{{- $temporal := get $cfg "temporal" | default dict -}}
{{- $_ := set $temporal "address" .Values.temporal.address -}}
{{- $_ := set $temporal "namespace" .Values.temporal.namespace -}}
{{- $tls := include "lifeboat.temporalTLS" . | fromYaml -}}
{{- if $tls -}}
{{- $_ := set $temporal "tls" $tls -}}
{{- end -}}
{{- $_ := set $cfg "temporal" $temporal -}}
{{- $worker := get $cfg "worker" | default dict -}}
{{- $_ := set $worker "task_queue" .Values.temporal.taskQueue -}}
{{- $_ := set $worker "shutdown_timeout" (printf "%ds" (int .Values.worker.shutdownTimeoutSeconds)) -}}
{{- $_ := set $cfg "worker" $worker -}}
{{- $http := get $cfg "http" | default dict -}}
{{- $_ := set $http "listen" (printf "0.0.0.0:%d" (int .Values.http.port)) -}}
{{- $_ := set $cfg "http" $http -}}
{{- toYaml $cfg -}}
{{- end -}}
