"""ModelProxy HTTP server: Flask app on gevent."""
