{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "sluss.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the gateways: Service, PDB, NetworkPolicy. */}}
{{- define "sluss.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sluss.labels" -}}
{{ include "sluss.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sluss.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluss.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sluss.approleSecret" -}}
{{- if .Values.vault.approle.create -}}
{{- printf "%s-vault-approle" (include "sluss.fullname" .) -}}
{{- else -}}
{{- required "vault.approle.existingSecret (or vault.approle.create) is required" .Values.vault.approle.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
The sluss YAML: the user's config with what must agree with the pod
(listeners, data dir, Vault and its mounted files) set by the chart.
*/}}
{{- define "sluss.config" -}}
{{- $v := .Values -}}
{{- $approle := dict "mount" $v.vault.approle.mount "role_id_file" "/etc/sluss/vault/role_id" "secret_id_file" "/etc/sluss/vault/secret_id" -}}
{{- $vault := dict "address" (required "vault.address is required" $v.vault.address) "mount" $v.vault.mount "prefix" $v.vault.prefix "auth" (dict "approle" $approle) -}}
{{- with $v.vault.namespace }}{{ $_ := set $vault "namespace" . }}{{ end -}}
{{- with $v.vault.tlsServerName }}{{ $_ := set $vault "tls_server_name" . }}{{ end -}}
{{- if $v.vault.caConfigMap }}{{ $_ := set $vault "ca_cert" "/etc/sluss/vault-ca/ca.crt" }}{{ end -}}
{{- $gateway := dict "listen" (printf "0.0.0.0:%d" (int $v.service.proxyPort)) "admin_listen" (printf "0.0.0.0:%d" (int $v.service.adminPort)) -}}
{{- if $v.upstreamCA.configMap }}{{ $_ := set $gateway "upstream_ca" "/etc/sluss/upstream-ca/ca.crt" }}{{ end -}}
{{- $_ := set $gateway "users_file" "/etc/sluss/users/users" -}}
{{- $fixed := dict "keys" (dict "data_dir" "/var/lib/sluss" "vault" $vault) "gateway" $gateway -}}
{{- mergeOverwrite (deepCopy (default (dict) $v.config)) $fixed | toYaml -}}
{{- end -}}
