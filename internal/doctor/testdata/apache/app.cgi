#!/bin/sh
# A stand-in for a Django REST framework view behind Apache: it reads the credential
# from HTTP_AUTHORIZATION, which Apache sets only with CGIPassAuth On (or
# WSGIPassAuthorization On for mod_wsgi).
if [ -z "$HTTP_AUTHORIZATION" ]; then
    printf 'Status: 401 Unauthorized\r\n'
    printf 'Content-Type: application/json\r\n'
    printf 'WWW-Authenticate: Bearer realm="api"\r\n\r\n'
    printf '{"detail":"Authentication credentials were not provided."}'
    exit 0
fi
printf 'Content-Type: application/json\r\n\r\n'
printf '{"ok":true}'
