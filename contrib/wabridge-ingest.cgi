#!/bin/sh
# The CGI program for web servers (fcgiwrap, Apache mod_cgi, lighttpd): a CGI script
# gets no arguments, so this names the configuration and the command.
# Install as /usr/local/lib/wabridge/wabridge-ingest.cgi, mode 755.
exec /usr/local/bin/wabridge -c /etc/wabridge/wabridge.conf ingest
