"""Detect objects in every frame of a video: MMDetection 2.x's ``demo/video_demo.py``.

    python demo/video_demo.py VIDEO CONFIG CHECKPOINT --device cpu --out result.mp4 [--show]

Frames are read with OpenCV (``mmcv.VideoReader``), drawn by the detector's ``show_result``
(detections above ``--score-thr``) and written with ``cv2.VideoWriter`` (mp4v, the input's frame
rate and size) and/or shown in an OpenCV window.
"""
import os.path as osp
import sys
from argparse import ArgumentParser

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
import cv2
import mmcv

from mmdet_lite.apis import inference_detector, init_detector
from mmdet_lite.utils.cli import run_cli


def parse_args(argv=None):
    parser = ArgumentParser(description='MMDetection video demo')
    parser.add_argument('video', help='Video file')
    parser.add_argument('config', help='Config file')
    parser.add_argument('checkpoint', help='Checkpoint file')
    parser.add_argument('--device', default='cuda:0', help='Device used for inference')
    parser.add_argument('--score-thr', type=float, default=0.3, help='Bbox score threshold')
    parser.add_argument('--out', type=str, help='Output video file')
    parser.add_argument('--show', action='store_true', help='Show video')
    parser.add_argument('--wait-time', type=float, default=1,
                        help='The interval of show (s), 0 is block')
    args = parser.parse_args(argv)
    if not (args.out or args.show):
        parser.error('Please specify at least one operation (save/show the video) with the '
                     'argument "--out" or "--show"')
    return args


def open_video(path: str) -> mmcv.VideoReader:
    if not osp.isfile(path):
        raise FileNotFoundError(f'video file {path} does not exist')
    reader = mmcv.VideoReader(path)
    if not reader.opened or reader.width == 0:
        raise ValueError(f'cannot read video file {path}: OpenCV could not open it as a video')
    return reader


def open_writer(path: str, reader: mmcv.VideoReader) -> cv2.VideoWriter:
    mmcv.mkdir_or_exist(osp.dirname(osp.abspath(path)))
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), reader.fps,
                             (reader.width, reader.height))
    if not writer.isOpened():
        raise ValueError(f'cannot write video file {path}: OpenCV has no mp4v writer for it')
    return writer


def main(argv=None) -> None:
    args = parse_args(argv)
    video_reader = open_video(args.video)
    model = init_detector(args.config, args.checkpoint, device=args.device)
    video_writer = open_writer(args.out, video_reader) if args.out else None
    try:
        for frame in mmcv.track_iter_progress(video_reader):
            result = inference_detector(model, frame)
            frame = model.show_result(frame, result, score_thr=args.score_thr)
            if args.show:
                cv2.namedWindow('video', 0)
                mmcv.imshow(frame, 'video', int(args.wait_time))
            if video_writer is not None:
                video_writer.write(frame)
    finally:
        if video_writer is not None:
            video_writer.release()
        if args.show:
            cv2.destroyAllWindows()


if __name__ == '__main__':
    sys.exit(run_cli(main, 'video_demo.py'))
