# YOLOv3 with a Darknet-53 backbone at 608 x 608: YOLOAnchorGenerator lists the coarsest
# level (stride 32) first, as darknet does. Written for anchorctl's tests.
_base_ = ['../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py']
model = dict(
    type='YOLOV3',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[0, 0, 0], std=[255., 255., 255.], bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(type='Darknet', depth=53, out_indices=(3, 4, 5)),
    neck=dict(
        type='YOLOV3Neck', num_scales=3, in_channels=[1024, 512, 256],
        out_channels=[512, 256, 128]),
    bbox_head=dict(
        type='YOLOV3Head',
        num_classes=80,
        in_channels=[512, 256, 128],
        out_channels=[1024, 512, 256],
        anchor_generator=dict(
            type='YOLOAnchorGenerator',
            base_sizes=[[(116, 90), (156, 198), (373, 326)],
                        [(30, 61), (62, 45), (59, 119)],
                        [(10, 13), (16, 30), (33, 23)]],
            strides=[32, 16, 8]),
        featmap_strides=[32, 16, 8]))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(608, 608), keep_ratio=True),
    dict(type='PackDetInputs')
]
