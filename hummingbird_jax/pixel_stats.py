"""Per-channel RGB mean and std (values in [0, 1]) that pretrained image and video encoders normalise
their input with; every preprocessing step reads them from here."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP / OpenCLIP
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics (DINO, ViCLIP, InternVideo2, DOVER)
IMAGENET_STD = (0.229, 0.224, 0.225)
