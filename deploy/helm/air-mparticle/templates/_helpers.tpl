{{/* Names and labels, as `helm create` makes them. */}}
{{- define "airmp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "airmp.fullname" -}}
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

{{- define "airmp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "airmp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "airmp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airmp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "airmp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "airmp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "airmp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The pod's termination grace period: given, or the delivery grace plus 30 s. Below the
grace plus 20 s (the grace, the sink's linger, the commit) a deploy would SIGKILL workers
with deliveries in flight, so the chart refuses it. */}}
{{- define "airmp.terminationGrace" -}}
{{- $grace := float64 .Values.deliveryGraceSeconds }}
{{- $period := .Values.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $period }}
{{- $period = addf $grace 30 | ceil | int }}
{{- end }}
{{- if lt (float64 $period) (addf $grace 20) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least deliveryGraceSeconds + 20 (%v)" $period (addf $grace 20)) }}
{{- end }}
{{- int $period }}
{{- end }}

{{/* Checks across values the schema cannot express. */}}
{{- define "airmp.validate" -}}
{{- $partitions := int .Values.topics.partitions }}
{{- if and (not .Values.autoscaling.enabled) (gt (int .Values.replicas) $partitions) }}
{{- fail (printf "replicas (%d) must not exceed topics.partitions (%d): a worker without partitions is idle and never ready" (int .Values.replicas) $partitions) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.maxReplicaCount) $partitions }}
{{- fail (printf "autoscaling.maxReplicaCount (%d) must not exceed topics.partitions (%d): workers past the partition count get none" (int .Values.autoscaling.maxReplicaCount) $partitions) }}
{{- end }}
{{- if gt (int .Values.autoscaling.minReplicaCount) (int .Values.autoscaling.maxReplicaCount) }}
{{- fail "autoscaling.minReplicaCount must not exceed autoscaling.maxReplicaCount" }}
{{- end }}
{{- if and (ne .Values.kafka.securityProtocol "PLAINTEXT") (not .Values.autoscaling.triggerAuthentication.enabled) }}
{{- fail (printf "kafka.securityProtocol is %s: KEDA needs autoscaling.triggerAuthentication.enabled to reach the brokers" .Values.kafka.securityProtocol) }}
{{- end }}
{{- end }}
{{- if and .Values.ingress.enabled (empty .Values.ingress.tls) }}
{{- fail "ingress.tls is required: mParticle calls the Firehose output over HTTPS only" }}
{{- end }}
{{- end }}

{{/* The AIRMP_ environment as a YAML map: the first-class values, then `env`, which wins.
`role` is "worker", "edges" or "check". */}}
{{- define "airmp.envMap" -}}
{{- $v := .root.Values }}
{{- $env := dict
  "AIRMP_KAFKA_BOOTSTRAP_SERVERS" $v.kafka.bootstrapServers
  "AIRMP_KAFKA_SECURITY_PROTOCOL" $v.kafka.securityProtocol
  "AIRMP_KAFKA_SASL_MECHANISM" $v.kafka.saslMechanism
  "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS" (toString $v.kafka.sessionTimeoutSeconds)
  "AIRMP_APP_ID" $v.appId
  "AIRMP_TOPIC_PARTITIONS" (toString $v.topics.partitions)
  "AIRMP_TOPIC_REPLICATION_FACTOR" (toString $v.topics.replicationFactor)
  "AIRMP_TOPIC_AUTO_CREATE" (toString $v.topics.autoCreate)
  "AIRMP_INPUT_TOPIC" $v.topics.input
  "AIRMP_RECORDS_TOPIC" $v.topics.records
  "AIRMP_DEAD_LETTER_TOPIC" $v.topics.deadLetter
  "AIRMP_REWARD_TOPIC" $v.topics.reward
  "AIRMP_AUDIENCE_TOPIC" $v.topics.audience
  "AIRMP_MPARTICLE_API_ENDPOINT" $v.mparticle.endpoint
  "AIRMP_MPARTICLE_ENVIRONMENT" $v.mparticle.environment
  "AIRMP_DELIVERY_GRACE_SECONDS" (toString $v.deliveryGraceSeconds)
  "AIRMP_TABLE_STANDBY_REPLICAS" (toString $v.standbyReplicas)
  "AIRMP_WEB_PORT" (toString $v.webPort)
  "AIRMP_DATA_DIR" "/data"
}}
{{- with $v.air.walletUrl }}{{ $_ := set $env "AIRMP_AIR_WALLET_URL" . }}{{ end }}
{{- with $v.air.clientId }}{{ $_ := set $env "AIRMP_AIR_CLIENT_ID" . }}{{ end }}
{{- with $v.kafka.tls.secretName }}
{{- $dir := $v.kafka.tls.mountPath }}
{{- with $v.kafka.tls.caKey }}{{ $_ := set $env "AIRMP_KAFKA_SSL_CA_FILE" (printf "%s/%s" $dir .) }}{{ end }}
{{- with $v.kafka.tls.certKey }}{{ $_ := set $env "AIRMP_KAFKA_SSL_CERT_FILE" (printf "%s/%s" $dir .) }}{{ end }}
{{- with $v.kafka.tls.keyKey }}{{ $_ := set $env "AIRMP_KAFKA_SSL_KEY_FILE" (printf "%s/%s" $dir .) }}{{ end }}
{{- end }}
{{- if eq .role "edges" }}
{{- $_ := set $env "AIRMP_AGENTS_ENABLED" "false" }}
{{- $_ := set $env "AIRMP_EDGES_ENABLED" "true" }}
{{- else if and (eq .role "worker") $v.edges.enabled }}
{{- $_ := set $env "AIRMP_EDGES_ENABLED" "false" }}
{{- end }}
{{- range $name, $value := $v.env }}{{ $_ := set $env $name (toString $value) }}{{ end }}
{{- if $v.secrets.existingSecret }}{{ $_ := set $env "AIRMP_SECRETS_DIR" $v.secrets.mountPath }}{{ end }}
{{- toYaml $env }}
{{- end }}

{{/* The container's env list, sorted by name. */}}
{{- define "airmp.env" -}}
{{- range $name, $value := include "airmp.envMap" . | fromYaml }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Volumes every pod of the chart mounts: /tmp (the root filesystem is read-only), the
secrets directory and the Kafka TLS files. */}}
{{- define "airmp.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.secrets.existingSecret }}
- name: secrets
  mountPath: {{ .Values.secrets.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.secretName }}
- name: kafka-tls
  mountPath: {{ .Values.kafka.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "airmp.volumes" -}}
- name: tmp
  emptyDir: {}
{{- with .Values.secrets.existingSecret }}
- name: secrets
  secret:
    secretName: {{ . }}
    defaultMode: 0400
{{- end }}
{{- with .Values.kafka.tls.secretName }}
- name: kafka-tls
  secret:
    secretName: {{ . }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{/* Restricted: the image's uid and gid 10001 (Dockerfile), nothing but /data and /tmp
writable, no privilege escalation, no capabilities, the runtime's seccomp profile. */}}
{{- define "airmp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "airmp.securityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The probes on the worker's own endpoints (streams/views.py). */}}
{{- define "airmp.probes" -}}
{{- $p := .Values.probes }}
startupProbe:
  httpGet: { path: /readyz, port: http }
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
readinessProbe:
  httpGet: { path: /readyz, port: http }
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
livenessProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
{{- end }}

{{/* KEDA's sasl and tls from the worker's Kafka settings. */}}
{{- define "airmp.kedaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
{{- get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") .Values.kafka.saslMechanism }}
{{- else }}none{{ end }}
{{- end }}

{{- define "airmp.kedaTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}enable{{ else }}disable{{ end }}
{{- end }}
