#!/bin/sh
# Serves /app (bind-mounted from ./web) with CGI for /cgi-bin/.
echo "project-a web: serving /app on :3000"
exec httpd -f -v -p 3000 -h /app
