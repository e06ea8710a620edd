#!/usr/bin/env bash
# A local certificate authority and a certificate it signed for the front door (nginx's
# HTTPS), with openssl: DIR/ca.pem (give it to clients: `tessera --ca-cert`, curl
# --cacert, a browser's trust store), DIR/ca.key (0600; signs nothing else unless you run
# this again for a new host set), DIR/cert.pem and DIR/key.pem (nginx's). EC P-256; the
# certificate lasts 825 days, the CA 10 years.
#
# Names: localhost, 127.0.0.1, ::1 and nginx (the front door's name on the deployment's own
# network), plus TLS_HOSTS (comma-separated DNS names or IP addresses, e.g.
# TLS_HOSTS=auth.example.com). Idempotent: existing files are kept; delete cert.pem and
# key.pem to issue a new certificate from the same CA. Never commit these files; bring
# your own certificate instead by putting it (full chain) and its key at DIR/cert.pem and
# DIR/key.pem.
#
# Usage: scripts/tls-cert.sh DIR
set -euo pipefail
dir=${1:?usage: $0 DIR}
if ! command -v openssl >/dev/null 2>&1; then
  echo "tls-cert: openssl is not installed (apt-get install -y openssl)" >&2
  exit 1
fi
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"

if [[ -s ca.pem && -s ca.key ]]; then
  echo "keys: keeping $dir/ca.pem"
else
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key.tmp)
  openssl req -x509 -new -key ca.key.tmp -sha256 -days 3650 -subj "/CN=Tessera local CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem.tmp
  mv ca.key.tmp ca.key
  mv ca.pem.tmp ca.pem
  rm -f cert.pem key.pem # a new CA: the old certificate no longer chains to it
  echo "keys: wrote $dir/ca.pem (the CA clients trust)"
fi

if [[ -s cert.pem && -s key.pem ]]; then
  echo "keys: keeping $dir/cert.pem"
  exit 0
fi
names="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:nginx"
IFS=',' read -ra extra <<<"${TLS_HOSTS:-}"
for host in "${extra[@]}"; do
  host=${host// /}
  [[ -z $host ]] && continue
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
    names+=",IP:$host"
  else
    names+=",DNS:$host"
  fi
done
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem.tmp)
openssl req -new -key key.pem.tmp -subj "/CN=localhost" -out cert.csr
printf '%s\n' "subjectAltName=$names" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always" >cert.ext
openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
  -sha256 -days 825 -extfile cert.ext -out cert.pem.tmp 2>/dev/null
rm -f cert.csr cert.ext
# 0644 like the other secrets: docker-compose mounts file secrets with the host file's
# mode, and nginx runs unprivileged in its container (DIR itself is 0700).
chmod 644 key.pem.tmp
mv key.pem.tmp key.pem
mv cert.pem.tmp cert.pem
echo "keys: wrote $dir/cert.pem for ${names//DNS:/}"
