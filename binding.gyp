{
  "targets": [
    {
      "target_name": "l7proxy_intercept",
      "sources": ["src/intercept/native/transparent-socket.c", "src/intercept/native/transparent-udp.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
