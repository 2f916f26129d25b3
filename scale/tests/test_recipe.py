"""One definition of the recipe: scale/recipe.py against numbers the app's TypeScript computed for the same inputs
(written at test time by tests/scale/round-trip.test.ts into the JSON file named by SCALE_FIXTURES).
Run through `npm run scale:test`, or: SCALE_FIXTURES=<file> python3 -m unittest scale.tests.test_recipe"""
import base64
import json
import os
import unittest

import numpy as np
import torch

from scale import recipe


def load_fixtures():
    path = os.environ.get('SCALE_FIXTURES')
    if not path or not os.path.exists(path):
        raise RuntimeError('SCALE_FIXTURES names no fixture file: run `npm run scale:test`, which writes it from the app\'s code.')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def b64(text, dtype):
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


class RecipeMatchesTheApp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = load_fixtures()

    def test_hash_of_drawing_ids(self):
        for case in self.fx['hash']:
            self.assertEqual(recipe.hash_to_unit(case['id']), case['unit'], case['id'])

    def test_same_ids_land_in_the_same_split(self):
        split = self.fx['split']
        ours = [recipe.split_of(i, split['validationFraction'], split['testFraction']) for i in split['ids']]
        mismatches = [(i, a, b) for i, a, b in zip(split['ids'], ours, split['parts']) if a != b]
        self.assertEqual(mismatches, [])
        self.assertEqual(len(ours), len(split['parts']))
        self.assertGreater(len(set(ours)), 2, 'the fixture should cover all three parts')

    def test_random_stream_and_epoch_order(self):
        rnd = self.fx['random']
        np.testing.assert_array_equal(recipe.mulberry32(rnd['seed'], np.arange(len(rnd['values']))), rnd['values'])
        for case in self.fx['epochOrder']:
            np.testing.assert_array_equal(recipe.epoch_order(case['count'], case['seed'], case['epoch']), case['order'])

    def test_augmentation(self):
        for case in self.fx['augment']:
            source = b64(case['bitmaps'], np.uint8).reshape(-1, 28, 28)
            numbers = case['skipImages'] + np.arange(len(source))
            theirs = b64(case['out'], np.uint8).reshape(-1, 28, 28)
            self.assertFalse(np.array_equal(theirs, source), 'the augmented fixture should differ from its source')
            # Both sides do the same float64 arithmetic in the same order, so every pixel is the same.
            np.testing.assert_array_equal(recipe.augment_bitmaps(source, case['options'], case['seed'], numbers), theirs)
            # A tensor (as scale/train.py passes, on the GPU when it has one) is warped where it lies, to the same pixels.
            for device in ['cpu'] + (['cuda'] if torch.cuda.is_available() else []):
                warped = recipe.augment_bitmaps(torch.from_numpy(source.copy()).to(device), case['options'], case['seed'], numbers)
                self.assertEqual(warped.device.type, device)
                np.testing.assert_array_equal(warped.cpu().numpy(), theirs, device)

    def test_preprocess_gives_the_same_input_tensor(self):
        for case in self.fx['preprocess']:
            size = case['inputSizePx']
            source = b64(case['bitmaps'], np.uint8).reshape(-1, 28, 28)
            ours = recipe.preprocess(source, size).permute(0, 2, 3, 1).numpy()  # the app's tensors are NHWC
            theirs = b64(case['values'], np.float32).reshape(len(source), size, size, 3)
            self.assertLessEqual(float(np.abs(ours - theirs).max()), 1e-6, f'{size} px')

    def test_learning_rate_schedule(self):
        for case in self.fx['learningRate']:
            self.assertAlmostEqual(recipe.learning_rate_at(case['config'], case['step'], case['total']), case['rate'], delta=1e-15)

    def test_config_defaults_and_problems(self):
        for case in self.fx['configs']:
            if case['parsed'] is None:
                with self.assertRaises(recipe.ConfigError, msg=case['why']):
                    recipe.parse_config(case['input'])
            else:
                self.assertEqual(recipe.parse_config(case['input']), case['parsed'])


if __name__ == '__main__':
    unittest.main()
