"""``python -m tests.support.fake_openai --port 8999 --latency-s 0.5 --max-concurrent 64``"""

from tests.support.fake_openai.cli import main

if __name__ == "__main__":
    main()
