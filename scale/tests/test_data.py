"""Reading Google's numpy_bitmap files from a folder or over HTTP with range requests (a local server that honours
Range, and one that ignores it), with a message a person can act on for each problem."""
import http.server
import os
import tempfile
import threading
import unittest

import numpy as np

from scale.data import DataError, load_splits, read_bitmaps


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    honour_range = True
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, 'rb') as f:
            body = f.read()
        wanted = self.headers.get('Range')
        type(self).requests.append(wanted)
        if wanted and self.honour_range:
            start, end = (int(v) for v in wanted.removeprefix('bytes=').split('-'))
            part = body[start:end + 1]
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{start + len(part) - 1}/{len(body)}')
            body = part
        else:
            self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ReadBitmaps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.rows = np.random.default_rng(3).integers(0, 256, (300, 784), dtype=np.uint8)
        np.save(os.path.join(cls.dir, 'The Eiffel Tower.npy'), cls.rows)
        np.save(os.path.join(cls.dir, 'floats.npy'), np.zeros((3, 784), np.float32))
        handler = lambda *a, **k: RangeHandler(*a, directory=cls.dir, **k)
        cls.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f'http://127.0.0.1:{cls.server.server_address[1]}/'

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def test_folder_and_url_give_the_same_first_rows(self):
        local = read_bitmaps(self.dir, 'The Eiffel Tower', 120)
        np.testing.assert_array_equal(local, self.rows[:120].reshape(-1, 28, 28))
        RangeHandler.requests.clear()
        np.testing.assert_array_equal(read_bitmaps(self.url, 'The Eiffel Tower', 120), local)
        header = 128  # NumPy's v1 header for this file, padded to 64 bytes
        self.assertEqual(RangeHandler.requests, ['bytes=0-4095', f'bytes={header}-{header + 120 * 784 - 1}'])
        np.testing.assert_array_equal(read_bitmaps(self.url, 'The Eiffel Tower', 10_000), self.rows.reshape(-1, 28, 28))

    def test_a_server_that_ignores_range_still_gives_the_rows(self):
        RangeHandler.honour_range = False
        try:
            np.testing.assert_array_equal(read_bitmaps(self.url, 'The Eiffel Tower', 50), self.rows[:50].reshape(-1, 28, 28))
        finally:
            RangeHandler.honour_range = True

    def test_problems_say_what_to_do(self):
        with self.assertRaisesRegex(DataError, r'cat\.npy: no such file\. Put Google.s numpy_bitmap/cat\.npy there'):
            read_bitmaps(self.dir, 'cat', 10)
        with self.assertRaisesRegex(DataError, r'cat\.npy: HTTP 404'):
            read_bitmaps(self.url, 'cat', 10)
        with self.assertRaisesRegex(DataError, r'expected uint8 rows of 784 pixels'):
            read_bitmaps(self.url, 'floats', 10)
        with self.assertRaisesRegex(DataError, r'expected uint8 rows of 784 pixels'):
            read_bitmaps(self.dir, 'floats', 10)



class SeparateTestSource(unittest.TestCase):
    """As the app (tests/unit/core/training-data.test.ts): test drawings whose bitmap the training source holds are left
    out, and the test part is filled from the rows after them."""

    def setUp(self):
        self.train, self.test = tempfile.mkdtemp(), tempfile.mkdtemp()
        rng = np.random.default_rng(5)
        self.cat, self.dog = (rng.integers(0, 256, (50, 784), dtype=np.uint8) for _ in range(2))
        np.save(os.path.join(self.train, 'cat.npy'), self.cat[:20])
        np.save(os.path.join(self.train, 'dog.npy'), self.dog[:20])
        self.config = {'dataset': {'categories': ['cat', 'dog'], 'maxPerCategory': 20}, 'split': {'validationFraction': 0.2, 'testFraction': 0.1}}

    def test_whole_files_as_the_test_source_score_the_rows_after_the_training_ones(self):
        # One dog test row repeats a cat training drawing.
        dog = np.concatenate([self.dog[:20], self.cat[5:6], self.dog[20:45]])
        np.save(os.path.join(self.test, 'cat.npy'), self.cat)
        np.save(os.path.join(self.test, 'dog.npy'), dog)
        parts, _ = load_splits(self.config, self.train, self.test)
        bitmaps, labels, ids = parts['test']
        np.testing.assert_array_equal(bitmaps, np.concatenate([self.cat[20:40], self.dog[20:40]]).reshape(-1, 28, 28))
        self.assertEqual(labels.tolist(), [0] * 20 + [1] * 20)
        self.assertEqual(ids[:2] + ids[20:22], ['test:cat/20', 'test:cat/21', 'test:dog/21', 'test:dog/22'])
        self.assertEqual(len(parts['train'][0]) + len(parts['validation'][0]), 40)

    def test_a_test_source_of_training_drawings_only_is_refused(self):
        np.save(os.path.join(self.test, 'cat.npy'), self.cat[:20])
        np.save(os.path.join(self.test, 'dog.npy'), self.dog[:10])
        with self.assertRaisesRegex(DataError, r'Every drawing of the test source .* is also in the training source'):
            load_splits(self.config, self.train, self.test)


if __name__ == '__main__':
    unittest.main()
