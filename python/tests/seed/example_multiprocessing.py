from multiprocessing import Process
from smh import SharedMemoryHandlee

class MySharedMemory(SharedMemoryHandlee):
    def __init__(self, length):
        super().__init__(length, struct="i")

def worker(shared_memory, start, end):
    for i in range(start, end):
        shared_memory[i] = (i * 2,)

if __name__ == "__main__":
    shared_memory = MySharedMemory(10)

    # Create worker processes
    processes = [
        Process(target=worker, args=(shared_memory, 0, 5)),
        Process(target=worker, args=(shared_memory, 5, 10)),
    ]

    for process in processes:
        process.start()

    for process in processes:
        process.join()

    # Access results
    for i in range(10):
        print(shared_memory[i])

    del shared_memory
