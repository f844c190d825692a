package dev.ebpftraffic.web;

/** The JSON API under /api/v1/ (the live view's data); the server adds auth, headers and gzip. */
public interface LiveApi {
    String PREFIX = "/api/v1/";

    /** A JSON answer. */
    record Response(int status, String json) {
    }

    /** Answers GET or HEAD of path (under PREFIX) with the raw, still percent-encoded query (or null). */
    Response get(String path, String rawQuery);
}
